package plate

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendJSON(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		r    Read
		want string
	}{
		{"typical", typicalRead(),
			`{"read_id":"CAM-E40-101/20261122T070000.123Z/1","camera_id":"CAM-E40-101",` +
				`"ts":"2026-11-22T07:00:00.123Z","plate":"1-ABC-234","plate_norm":"1ABC234","country":"BE",` +
				`"confidence":0.93,"lane":2,"vehicle_class":"car","image_ref":"s3://anpr/2026/11/22/x.jpg"}`},
		{"optional absent",
			Read{ReadID: "R", CameraID: "C", TS: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
				Plate: "AB", PlateNorm: "AB", Confidence: -1, Lane: -1, VehicleClass: ClassUnknown},
			`{"read_id":"R","camera_id":"C","ts":"2026-01-02T03:04:05.000Z","plate":"AB","plate_norm":"AB","vehicle_class":"unknown"}`},
		{"zeros are present",
			Read{ReadID: "R", CameraID: "C", TS: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
				Plate: "AB", PlateNorm: "AB", Confidence: 0, Lane: 0, VehicleClass: ClassBus},
			`{"read_id":"R","camera_id":"C","ts":"2026-01-02T03:04:05.000Z","plate":"AB","plate_norm":"AB","confidence":0,"lane":0,"vehicle_class":"bus"}`},
		{"float formats",
			Read{ReadID: "R", CameraID: "C", Plate: "AB", PlateNorm: "AB", Confidence: 1e-7, Lane: 1234567, VehicleClass: ClassVan},
			`{"read_id":"R","camera_id":"C","ts":"0001-01-01T00:00:00.000Z","plate":"AB","plate_norm":"AB","confidence":0.0000001,"lane":1234567,"vehicle_class":"van"}`},
		{"empty class, other zone, ns truncated",
			Read{ReadID: "R", CameraID: "C", TS: time.Date(2026, 11, 22, 8, 0, 0, 999999999, cet),
				Plate: "AB", PlateNorm: "AB", Confidence: 1, Lane: -1},
			`{"read_id":"R","camera_id":"C","ts":"2026-11-22T07:00:00.999Z","plate":"AB","plate_norm":"AB","confidence":1,"vehicle_class":"unknown"}`},
		{"escapes",
			Read{ReadID: `q"b\s/`, CameraID: "\x00\x01\x1f\x7f", Plate: "\b\f\n\r\t", PlateNorm: "AB",
				Confidence: -1, Lane: -1, VehicleClass: ClassCar, ImageRef: "<a&b> é€🚗 \u2028 \xff\xc3(",
				TS: time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)},
			`{"read_id":"q\"b\\s/","camera_id":"\u0000\u0001\u001f` + "\x7f" + `","ts":"2026-11-22T07:00:00.000Z",` +
				`"plate":"\b\f\n\r\t","plate_norm":"AB","vehicle_class":"car","image_ref":"<a&b> é€🚗 ` + "\u2028" + ` \ufffd\ufffd("}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendJSON([]byte("prefix"), &tt.r))
			if got != "prefix"+tt.want {
				t.Errorf("AppendJSON:\n got %s\nwant prefix%s", got, tt.want)
			}
			if !json.Valid([]byte(tt.want)) {
				t.Errorf("not valid JSON: %s", tt.want)
			}
		})
	}
}

// TestAppendJSONMatchesEncodingJSON compares AppendJSON with encoding/json
// on random reads, including odd strings that no valid Read has.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		r := randomRead(rnd)
		r.ReadID = randomString(rnd, 20, true) // also control characters, invalid UTF-8
		r.Plate = randomString(rnd, 20, true)
		got := AppendJSON(nil, &r)
		want := referenceJSON(t, &r)
		if !utf8.Valid(got) || !json.Valid(got) {
			t.Fatalf("AppendJSON(%+v) is not valid JSON: %q", r, got)
		}
		var gotV, wantV map[string]any
		if err := json.Unmarshal(got, &gotV); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(want, &wantV); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotV, wantV) {
			t.Fatalf("AppendJSON(%+v):\n got %s\nwant %s", r, got, want)
		}
	}
}

// referenceJSON is AppendJSON written with encoding/json.
func referenceJSON(t *testing.T, r *Read) []byte {
	type wire struct {
		ReadID       string   `json:"read_id"`
		CameraID     string   `json:"camera_id"`
		TS           string   `json:"ts"`
		Plate        string   `json:"plate"`
		PlateNorm    string   `json:"plate_norm"`
		Country      string   `json:"country,omitempty"`
		Confidence   *float64 `json:"confidence,omitempty"`
		Lane         *int     `json:"lane,omitempty"`
		VehicleClass string   `json:"vehicle_class"`
		ImageRef     string   `json:"image_ref,omitempty"`
	}
	w := wire{ReadID: r.ReadID, CameraID: r.CameraID, TS: r.TS.UTC().Format(TimeFormat),
		Plate: r.Plate, PlateNorm: r.PlateNorm, Country: r.Country,
		VehicleClass: r.VehicleClass, ImageRef: r.ImageRef}
	if r.Confidence >= 0 {
		w.Confidence = &r.Confidence
	}
	if r.Lane >= 0 {
		w.Lane = &r.Lane
	}
	if w.VehicleClass == "" {
		w.VehicleClass = ClassUnknown
	}
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRoundTrip: Decode(AppendJSON(r)) == r for valid random reads.
func TestRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	var buf []byte
	for range 5000 {
		want := randomRead(rnd)
		buf = AppendJSON(buf[:0], &want)
		var got Read
		if err := Decode(buf, &got); err != nil {
			t.Fatalf("Decode(%s): %v", buf, err)
		}
		if got != want {
			t.Fatalf("round trip of %s:\n got %+v\nwant %+v", buf, got, want)
		}
	}
}

func TestAppendTime(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	zones := []*time.Location{time.UTC, time.FixedZone("", -12*3600), time.FixedZone("", 5*3600+1800)}
	times := []time.Time{
		{}, time.Unix(0, 0), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(-1, 12, 31, 0, 0, 0, 0, time.UTC),  // outside 0..9999: AppendFormat
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), // idem
		time.Now(), // with a monotonic reading
	}
	for range 10000 {
		sec := rnd.Int64N(253402300800) - 62167219200 // years 0000..9999
		times = append(times, time.Unix(sec, rnd.Int64N(1e9)).In(zones[rnd.IntN(len(zones))]))
	}
	for _, ts := range times {
		got := string(AppendTime(nil, ts))
		if want := ts.UTC().Format(TimeFormat); got != want {
			t.Errorf("AppendTime(%v) = %s, want %s", ts, got, want)
		}
	}
}

func TestAppendJSONAllocs(t *testing.T) {
	r := typicalRead()
	r.ImageRef = "with \"escapes\" and é"
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = AppendJSON(buf[:0], &r) }); n != 0 {
		t.Errorf("AppendJSON allocates %v times with room in dst, want 0", n)
	}
}

// randomRead returns a valid Read, as Decode would return it.
func randomRead(rnd *rand.Rand) Read {
	r := Read{
		ReadID:       randomID(rnd, 1+rnd.IntN(MaxReadIDLen)),
		CameraID:     randomID(rnd, 1+rnd.IntN(MaxCameraIDLen)),
		TS:           time.UnixMilli(rnd.Int64N(253402300800000) - 62167219200000).UTC(),
		Confidence:   -1,
		Lane:         -1,
		VehicleClass: classes[rnd.IntN(len(classes))],
	}
	for {
		r.Plate = randomString(rnd, 16, false)
		var ok bool
		if r.PlateNorm, ok = Normalize(r.Plate); ok {
			break
		}
	}
	if rnd.IntN(2) == 0 {
		r.Country = string([]byte{byte('A' + rnd.IntN(26)), byte('A' + rnd.IntN(26))})
	}
	switch rnd.IntN(4) {
	case 0:
		r.Confidence = rnd.Float64()
	case 1:
		r.Confidence = float64(rnd.IntN(2))
	case 2:
		r.Confidence = float64(rnd.IntN(1001)) / 1000
	}
	switch rnd.IntN(3) {
	case 0:
		r.Lane = rnd.IntN(8)
	case 1:
		r.Lane = int(rnd.Int64())
	}
	if rnd.IntN(2) == 0 {
		r.ImageRef = randomString(rnd, MaxImageRefLen, false)
	}
	return r
}

// randomID returns n printable characters, some of them JSON specials or
// non-ASCII.
func randomID(rnd *rand.Rand, n int) string {
	const alphabet = `ABCXYZabcxyz0129-/._:" \<>&`
	var b strings.Builder
	for range n {
		switch rnd.IntN(10) {
		case 0:
			b.WriteRune([]rune("éß€🚗\u00a0\u2028\ufffd")[rnd.IntN(7)])
		default:
			b.WriteByte(alphabet[rnd.IntN(len(alphabet))])
		}
	}
	return b.String()
}

// randomString returns up to n characters of anything valid in a JSON
// string; with invalid, also bytes that are not UTF-8.
func randomString(rnd *rand.Rand, n int, invalid bool) string {
	var b strings.Builder
	for range rnd.IntN(n + 1) {
		switch k := rnd.IntN(12); {
		case k < 6:
			b.WriteByte(byte('A' + rnd.IntN(26)))
		case k < 8:
			b.WriteByte(byte('0' + rnd.IntN(10)))
		case k == 8:
			b.WriteByte(byte(rnd.IntN(0x80))) // ASCII, controls included
		case k == 9:
			b.WriteByte("-. \"\\/"[rnd.IntN(6)])
		case k == 10:
			b.WriteRune(rune(0x80 + rnd.IntN(0x10000-0x80)))
		default:
			if invalid {
				b.WriteByte(byte(0x80 + rnd.IntN(0x80)))
			} else {
				b.WriteRune(rune(0x10000 + rnd.IntN(0x100000)))
			}
		}
	}
	s := b.String()
	if !invalid {
		s = strings.ToValidUTF8(s, "\ufffd") // surrogate halves written by WriteRune
	}
	return s
}
