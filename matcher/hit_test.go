package matcher

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestHitID(t *testing.T) {
	const readID = "CAM-E40-101/20261122T070000.123Z/1"
	// Golden: must never change, consumers dedupe on it.
	if got, want := HitID(readID, "stolen", "1ABC234"), "h_2cbe6b4256b234cb6efb2c3f"; got != want {
		t.Errorf("HitID = %q, want %q", got, want)
	}
	sum := sha256.Sum256([]byte("r\x00l\x00P1"))
	if got, want := HitID("r", "l", "P1"), "h_"+hex.EncodeToString(sum[:])[:24]; got != want {
		t.Errorf("HitID = %q, want %q", got, want)
	}
	// The separators keep field boundaries apart.
	if HitID("ab", "c", "P1") == HitID("a", "bc", "P1") {
		t.Error("HitID ignores field boundaries")
	}
}

func TestHitJSON(t *testing.T) {
	m := mustNew(t, []List{{Name: "stolen", Mode: OCR}, {Name: "covert", Mode: Exact, Covert: true}}, Options{})
	mustLoad(t, m, []Entry{
		{List: "stolen", Plate: "1ABC234", Country: "BE", Category: "stolen_vehicle", Priority: 1,
			Action: "intercept", Reference: "PV-2026-004211",
			ValidFrom: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
			Reason:    "quote \" backslash \\ newline \n nul \x00 bad utf8 \xff é \u2028"},
		{List: "covert", Plate: "IABC234"},
	})
	r := newRead("IABC234", "BE", "CAM-E40-101", time.Date(2026, 11, 22, 7, 0, 0, 123e6, time.UTC))
	r.Confidence, r.Lane = 0.93, 2
	now := time.Date(2026, 11, 22, 8, 0, 0, 456789e3, time.FixedZone("CET", 3600))
	hits := m.Match(r, now, nil)
	if len(hits) != 2 {
		t.Fatalf("got %d hits, want 2", len(hits))
	}

	type wire struct {
		HitID      string         `json:"hit_id"`
		Read       map[string]any `json:"read"`
		List       string         `json:"list"`
		Entry      map[string]any `json:"entry"`
		Match      string         `json:"match"`
		Distance   *int           `json:"distance"`
		Covert     *bool          `json:"covert"`
		DetectedAt string         `json:"detected_at"`
	}
	for _, h := range hits {
		b := h.AppendJSON(nil)
		var all map[string]any
		if err := json.Unmarshal(b, &all); err != nil {
			t.Fatalf("invalid JSON %s: %v", b, err)
		}
		wantKeys := []string{"covert", "detected_at", "distance", "entry", "hit_id", "list", "match", "read"}
		if got := sortedKeys(all); !reflect.DeepEqual(got, wantKeys) {
			t.Errorf("keys %v, want %v", got, wantKeys)
		}
		var w wire
		if err := json.Unmarshal(b, &w); err != nil {
			t.Fatal(err)
		}
		if w.HitID != h.ID || w.List != h.List || w.Match != string(h.Match) || *w.Distance != 0 || *w.Covert != h.Covert {
			t.Errorf("got %+v, want id %s list %s match %s distance 0 covert %v", w, h.ID, h.List, h.Match, h.Covert)
		}
		if want := "2026-11-22T07:00:00.456Z"; w.DetectedAt != want {
			t.Errorf("detected_at %q, want %q", w.DetectedAt, want)
		}
		if w.Read["read_id"] != r.ReadID || w.Read["plate_norm"] != "IABC234" || w.Read["ts"] != "2026-11-22T07:00:00.123Z" {
			t.Errorf("read %v, want read_id %s plate_norm IABC234 ts 2026-11-22T07:00:00.123Z", w.Read, r.ReadID)
		}
		if w.Entry["plate"] != h.Entry.Plate || w.Entry["list"] != h.List {
			t.Errorf("entry %v, want plate %s list %s", w.Entry, h.Entry.Plate, h.List)
		}
		// encoding/json with Entry's own tags reads back what we wrote.
		var e Entry
		if err := json.Unmarshal(mustMarshal(t, w.Entry), &e); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(jsonEntry(e), jsonEntry(h.Entry)) {
			t.Errorf("entry round trip %+v, want %+v", e, h.Entry)
		}
	}

	stolen, covert := hits[0], hits[1]
	if stolen.List != "stolen" {
		stolen, covert = covert, stolen
	}
	var s map[string]any
	json.Unmarshal(stolen.AppendJSON(nil), &s)
	entry := s["entry"].(map[string]any)
	wantEntry := map[string]any{"list": "stolen", "plate": "1ABC234", "country": "BE", "category": "stolen_vehicle",
		"priority": 1.0, "action": "intercept", "reference": "PV-2026-004211", "valid_from": "2026-11-01T00:00:00.000Z",
		"covert": false, "reason": "quote \" backslash \\ newline \n nul \x00 bad utf8 \ufffd é \u2028"}
	if !reflect.DeepEqual(entry, wantEntry) {
		t.Errorf("entry JSON\n%v, want\n%v", entry, wantEntry)
	}
	if s["match"] != "ocr" || s["covert"] != false {
		t.Errorf("stolen hit match %v covert %v, want ocr false", s["match"], s["covert"])
	}
	var c map[string]any
	json.Unmarshal(covert.AppendJSON(nil), &c)
	if c["match"] != "exact" || c["covert"] != true {
		t.Errorf("covert hit match %v covert %v, want exact true", c["match"], c["covert"])
	}
	if _, ok := c["entry"].(map[string]any)["valid_from"]; ok {
		t.Error("zero valid_from written, want it left out")
	}
	// json.Marshal goes through the same appender.
	if b, err := json.Marshal(covert); err != nil || string(b) != string(covert.AppendJSON(nil)) {
		t.Errorf("json.Marshal = %s, %v; want AppendJSON output", b, err)
	}
}

// jsonEntry is e with times reduced to what JSON carries.
func jsonEntry(e Entry) Entry {
	e.ValidFrom = e.ValidFrom.UTC().Truncate(time.Millisecond)
	e.ValidUntil = e.ValidUntil.UTC().Truncate(time.Millisecond)
	e.Reason = string([]rune(e.Reason)) // invalid UTF-8 becomes U+FFFD
	return e
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
