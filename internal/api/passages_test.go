package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anpr/anpr/internal/audit"
	"github.com/anpr/anpr/internal/auth"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/plate"
)

// investigation is a server over a store of known passages, with an
// investigator's token and the audit trail.
type investigation struct {
	url, token string
	trail      *audit.Log
	reads      []plate.Read
	base       time.Time
}

func newInvestigation(t *testing.T) *investigation {
	t.Helper()
	tok, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New([]auth.User{{Name: "inv", Roles: []string{auth.RoleInvestigator}, TokenSHA256: auth.HashToken(tok)}}, auth.Options{Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	trail, err := audit.Open(t.TempDir(), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trail.Close() })
	cams := map[string]plate.Camera{}
	for i := range 4 {
		id := fmt.Sprintf("CAM-%d", i)
		cams[id] = plate.Camera{ID: id, Name: "camera " + id, Lat: 50 + float64(i)/10, Lon: 4 + float64(i)/10}
	}
	inv := &investigation{token: tok, trail: trail, base: time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Hour)}
	rng := rand.New(rand.NewPCG(5, 6))
	plates := []string{"1ABC234", "1ABD234", "1A8C234", "2XYZ999"}
	for i := range 1500 {
		norm := plates[rng.IntN(len(plates))]
		ts := inv.base.Add(time.Duration(rng.Int64N(int64(40 * time.Hour)))).Truncate(time.Millisecond)
		cam := fmt.Sprintf("CAM-%d", rng.IntN(5)) // CAM-4 is not in the registry
		inv.reads = append(inv.reads, plate.Read{ReadID: fmt.Sprintf("%s/%d", cam, i), CameraID: cam, TS: ts,
			Plate: norm, PlateNorm: norm, Country: "BE", Confidence: -1, Lane: -1, VehicleClass: plate.ClassCar})
	}
	if _, err := st.Write(&store.Batch{Reads: inv.reads}); err != nil {
		t.Fatal(err)
	}
	s := New(Config{Store: st, Auth: a, Audit: trail, Cameras: cams, Ready: func() bool { return true }})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	inv.url = srv.URL
	return inv
}

// get calls path with the investigator's token, a case and an approval,
// and decodes the answer into v (when 200).
func (inv *investigation) get(t *testing.T, path string, v any) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", inv.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+inv.token)
	req.Header.Set(auth.HeaderCaseRef, "PV/2026/0001")
	req.Header.Set(auth.HeaderApprovalRef, "PK/2026/77")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Code string }
	if resp.StatusCode != http.StatusOK {
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Code
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return resp.StatusCode, ""
}

type passagePage struct {
	Passages []struct {
		ReadID string `json:"read_id"`
		TS     string `json:"ts"`
		Plate  string `json:"plate_norm"`
		Camera string `json:"camera_id"`
	} `json:"passages"`
	Next string `json:"next"`
}

// all follows the cursors of query (without after=) and returns the read
// ids in the order served.
func (inv *investigation) all(t *testing.T, query string) []string {
	t.Helper()
	var ids []string
	after := ""
	for range 1000 {
		var p passagePage
		path := "/api/v1/passages?" + query
		if after != "" {
			path += "&after=" + url.QueryEscape(after)
		}
		if status, code := inv.get(t, path, &p); status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, status, code)
		}
		for i, ps := range p.Passages {
			if i > 0 && ps.TS < p.Passages[i-1].TS {
				t.Fatalf("%s: not in time order", path)
			}
			ids = append(ids, ps.ReadID)
		}
		if p.Next == "" {
			return ids
		}
		after = p.Next
	}
	t.Fatal("cursors never end")
	return nil
}

func (inv *investigation) want(from, to time.Time, keep func(r plate.Read) bool) []string {
	var rs []plate.Read
	for _, r := range inv.reads {
		if !r.TS.Before(from) && r.TS.Before(to) && keep(r) {
			rs = append(rs, r)
		}
	}
	slices.SortStableFunc(rs, func(a, b plate.Read) int { return a.TS.Compare(b.TS) })
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ReadID)
	}
	return ids
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestPassagesQueries(t *testing.T) {
	inv := newInvestigation(t)
	from, to := inv.base.Add(3*time.Hour+17*time.Minute), inv.base.Add(31*time.Hour)
	win := "from=" + from.Format(time.RFC3339) + "&to=" + to.Format(time.RFC3339)
	tests := []struct {
		query string
		keep  func(plate.Read) bool
	}{
		{"plate=1-ABC-234&limit=13&" + win, func(r plate.Read) bool { return r.PlateNorm == "1ABC234" }},
		{"plate=1AB%3F234&limit=17&" + win, func(r plate.Read) bool { return r.PlateNorm == "1ABC234" || r.PlateNorm == "1ABD234" }},
		{"plate=1ABC234&ocr=true&limit=50&" + win, func(r plate.Read) bool { return r.PlateNorm == "1ABC234" || r.PlateNorm == "1A8C234" }},
		{"plate=*999&" + win, func(r plate.Read) bool { return r.PlateNorm == "2XYZ999" }},
		{"camera=CAM-2&limit=11&" + win, func(r plate.Read) bool { return r.CameraID == "CAM-2" }},
	}
	for _, tt := range tests {
		got := inv.all(t, tt.query)
		want := inv.want(from, to, tt.keep)
		if len(want) < 30 {
			t.Fatalf("%s: only %d passages wanted: test data too thin", tt.query, len(want))
		}
		// Ties in time order are broken by plate and read id hash: compare
		// as sets, order was checked page by page.
		if len(got) != len(want) || !sameSet(got, want) {
			t.Errorf("%s: got %d passages, want %d", tt.query, len(got), len(want))
		}
	}
	// The cap: about 1125 passages end in 234, at most 1000 a page.
	var p passagePage
	if status, _ := inv.get(t, "/api/v1/passages?plate=*234&ocr=false&limit=5000&from="+inv.base.Format(time.RFC3339), &p); status != http.StatusOK || len(p.Passages) != 1000 || p.Next == "" {
		t.Errorf("limit=5000: %d passages, next %q; want the cap of 1000 and a cursor", len(p.Passages), p.Next)
	}
	recs, err := inv.trail.Read(0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || recs[len(recs)-1].Action != "passages.query" || recs[len(recs)-1].Results != 1000 {
		t.Errorf("audit trail: last record %+v, want the capped query", recs[len(recs)-1])
	}
}

func TestPassagesBadInput(t *testing.T) {
	inv := newInvestigation(t)
	from := inv.base.Format(time.RFC3339)
	var p passagePage
	_, _ = inv.get(t, "/api/v1/passages?camera=CAM-1&limit=2&from="+from, &p)
	if p.Next == "" {
		t.Fatal("no cursor to forge from")
	}
	tests := []struct{ query, code string }{
		{"plate=*", "bad_pattern"},
		{"plate=1A%3FB*&from=" + from, "bad_pattern"},
		{"plate=%3F%3F%3F%3F", "bad_pattern"},
		{"", "bad_query"},
		{"plate=1ABC234&camera=CAM-1", "bad_query"},
		{"camera=CAM-1", "bad_window"},
		{"plate=1AB*", "bad_window"},
		{"camera=CAM-1&from=" + inv.base.Add(-40*24*time.Hour).Format(time.RFC3339), "bad_window"},
		{"plate=1ABC234&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "bad_window"},
		{"plate=1ABC234&from=1970-01-01T00:00:00Z", "bad_window"},
		{"plate=1ABC234&to=2999-01-01T00:00:00Z", "bad_window"},
		{"plate=1ABC234&from=yesterday", "bad_time"},
		{"plate=1ABC234&ocr=maybe", "bad_ocr"},
		{"plate=1ABC234&limit=-1", "bad_limit"},
		{"camera=CAM-1&from=" + from + "&after=" + forge(t, p.Next), "bad_cursor"},
		{"camera=CAM-2&from=" + from + "&after=" + p.Next, "bad_cursor"}, // another query's
		{"plate=1ABC234&after=" + p.Next, "bad_cursor"},
		{"plate=1AB*&from=" + from + "&after=%00%01", "bad_cursor"},
	}
	for _, tt := range tests {
		if status, code := inv.get(t, "/api/v1/passages?"+tt.query, &p); status != http.StatusBadRequest || code != tt.code {
			t.Errorf("%s: %d %s, want 400 %s", tt.query, status, code, tt.code)
		}
	}
	for _, path := range []string{
		"/api/v1/plates/1ABC234/cotravel?within=1h",
		"/api/v1/plates/1ABC234/cotravel?min_cameras=0",
		"/api/v1/plates/1ABC234/trajectory?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
		"/api/v1/plates/" + url.PathEscape("1-") + "/trajectory",
	} {
		if status, _ := inv.get(t, path, &p); status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", path, status)
		}
	}
}

func TestTrajectory(t *testing.T) {
	inv := newInvestigation(t)
	from, to := inv.base.Add(5*time.Hour), inv.base.Add(20*time.Hour)
	var fc struct {
		Type     string
		Features []struct {
			Type     string
			Geometry *struct {
				Type        string
				Coordinates json.RawMessage
			}
			Properties map[string]any
		}
	}
	path := "/api/v1/plates/1ABC234/trajectory?from=" + from.Format(time.RFC3339) + "&to=" + to.Format(time.RFC3339)
	if status, code := inv.get(t, path, &fc); status != http.StatusOK {
		t.Fatalf("%d %s", status, code)
	}
	want := inv.want(from, to, func(r plate.Read) bool { return r.PlateNorm == "1ABC234" })
	if fc.Type != "FeatureCollection" || len(fc.Features) != len(want)+1 {
		t.Fatalf("%s with %d features, want %d points and a line", fc.Type, len(fc.Features), len(want))
	}
	var ids []string
	var line [][2]float64
	prev := ""
	for _, f := range fc.Features[:len(want)] {
		ids = append(ids, f.Properties["read_id"].(string))
		ts := f.Properties["ts"].(string)
		if ts < prev {
			t.Fatal("points not in time order")
		}
		prev = ts
		cam := f.Properties["camera"].(string)
		if cam == "CAM-4" {
			if f.Geometry != nil {
				t.Errorf("a camera missing from the registry has a geometry")
			}
			continue
		}
		var pt [2]float64
		if err := json.Unmarshal(f.Geometry.Coordinates, &pt); err != nil || f.Geometry.Type != "Point" {
			t.Fatalf("point: %v %v", f.Geometry.Type, err)
		}
		i := float64(cam[len(cam)-1] - '0')
		if pt != [2]float64{4 + i/10, 50 + i/10} {
			t.Errorf("camera %s at %v, want [lon, lat] from the registry", cam, pt)
		}
		line = append(line, pt)
	}
	if !sameSet(ids, want) {
		t.Errorf("points: %d, want the %d passages", len(ids), len(want))
	}
	last := fc.Features[len(want)]
	var got [][2]float64
	if err := json.Unmarshal(last.Geometry.Coordinates, &got); err != nil || last.Geometry.Type != "LineString" || !slices.Equal(got, line) {
		t.Errorf("line %s: %d positions, want the %d located points in order (%v)", last.Geometry.Type, len(got), len(line), err)
	}
}

func TestCoTravelEndpoint(t *testing.T) {
	inv := newInvestigation(t)
	var res struct {
		Passages   int
		Travellers []struct {
			Plate              string
			Cameras, Sightings int
		} `json:"cotravellers"`
	}
	// Four plates at five cameras over 40 h: with a 10 min margin and one
	// camera, some plate must be near 1ABC234; with 6 cameras none can be.
	path := "/api/v1/plates/1ABC234/cotravel?within=10m&min_cameras=1&from=" + inv.base.Format(time.RFC3339)
	if status, code := inv.get(t, path, &res); status != http.StatusOK || res.Passages == 0 || len(res.Travellers) == 0 {
		t.Fatalf("%d %s: %+v", status, code, res)
	}
	for i, tr := range res.Travellers {
		if tr.Plate == "1ABC234" || i > 0 && tr.Cameras > res.Travellers[i-1].Cameras {
			t.Errorf("travellers %+v: the target itself, or not ranked", res.Travellers)
		}
	}
	path = strings.Replace(path, "min_cameras=1", "min_cameras=6", 1)
	if status, _ := inv.get(t, path, &res); status != http.StatusOK || len(res.Travellers) != 0 {
		t.Errorf("min_cameras=6 of 5 cameras: %+v", res.Travellers)
	}
}

// forge returns cursor with one bit of its middle byte flipped. Changing
// the last character instead may alter only base64's padding bits, which
// decode to the same cursor.
func forge(t *testing.T, cursor string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		t.Fatalf("cursor %q: %v", cursor, err)
	}
	b[len(b)/2] ^= 1
	return base64.RawURLEncoding.EncodeToString(b)
}
