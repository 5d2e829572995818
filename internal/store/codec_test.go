package store

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/anpr/anpr/plate"
)

func TestPassageCodecRoundTrip(t *testing.T) {
	base := read("1ABC234", time.Date(2026, 11, 22, 7, 0, 0, 123e6, time.UTC), 1)
	tests := []struct {
		name   string
		change func(r *plate.Read)
	}{
		{"typical", func(r *plate.Read) {}},
		{"absent optionals", func(r *plate.Read) {
			r.Confidence, r.Lane, r.Country, r.ImageRef = -1, -1, "", ""
		}},
		{"zero confidence and lane", func(r *plate.Read) { r.Confidence, r.Lane = 0, 0 }},
		{"confidence 1", func(r *plate.Read) { r.Confidence = 1 }},
		{"confidence with many digits", func(r *plate.Read) { r.Confidence = 0.123456789 }},
		{"confidence out of range", func(r *plate.Read) { r.Confidence = 3.5 }},
		{"plate as normalized", func(r *plate.Read) { r.Plate = r.PlateNorm }},
		{"plate with spaces", func(r *plate.Read) { r.Plate = "1ABC 234" }},
		{"plate with two separators", func(r *plate.Read) { r.Plate = "1 ABC-234" }},
		{"plate with a double separator", func(r *plate.Read) { r.Plate = "1--ABC234" }},
		{"plate with a trailing separator", func(r *plate.Read) { r.Plate = "1ABC234-" }},
		{"plate with a leading separator", func(r *plate.Read) { r.Plate = " 1ABC234" }},
		{"plate in lower case", func(r *plate.Read) { r.Plate = "1-abc-234" }},
		{"plate with every separator", func(r *plate.Read) { r.Plate = "1.A.B.C.2.3.4" }},
		{"read id without camera prefix", func(r *plate.Read) { r.ReadID = "gw7-000123" }},
		{"read id equal to camera id", func(r *plate.Read) { r.ReadID = r.CameraID }},
		{"unknown class", func(r *plate.Read) { r.VehicleClass = plate.ClassUnknown }},
		{"motorcycle", func(r *plate.Read) { r.VehicleClass = plate.ClassMotorcycle }},
		{"empty class", func(r *plate.Read) { r.VehicleClass = "" }},
		{"other class", func(r *plate.Read) { r.VehicleClass = "tractor" }},
		{"before 1970", func(r *plate.Read) { r.TS = time.Date(1969, 12, 31, 23, 59, 59, 999e6, time.UTC) }},
		{"image named after the read", func(r *plate.Read) { r.ImageRef = "s3://img/" + r.ReadID + ".jpg" }},
		{"time forms", func(r *plate.Read) {
			r.ReadID = "gw/2026-11-22T07:00:00.123Z/20261122/7"
			r.ImageRef = "/data/2026-11-22/20261122T070000.123Z-" + r.CameraID + "-" + r.CameraID
		}},
		{"forms of another time", func(r *plate.Read) {
			r.ReadID = r.CameraID + "/20261122T070000.124Z/1"
			r.ImageRef = "s3://anpr/2026/11/23/x.jpg"
		}},
		{"tokens only", func(r *plate.Read) { r.ReadID, r.ImageRef = r.CameraID, r.ReadID }},
		{"empty camera", func(r *plate.Read) { r.CameraID = "" }},
		{"gateway read id of an empty camera", func(r *plate.Read) {
			r.CameraID, r.ReadID = "", "/"+r.TS.Format("20060102T150405.000Z")+"/3"
		}},
		{"gateway read id 0", func(r *plate.Read) { r.ReadID = r.CameraID + "/" + r.TS.Format("20060102T150405.000Z") + "/0" }},
		{"largest gateway read id", func(r *plate.Read) {
			r.ReadID = r.CameraID + "/" + r.TS.Format("20060102T150405.000Z") + "/18446744073709551614"
		}},
		{"time forms in 1999", func(r *plate.Read) {
			r.TS = time.Date(1999, 12, 31, 23, 59, 59, 999e6, time.UTC)
			r.ReadID = r.CameraID + "/19991231T235959.999Z/1"
		}},
		{"year 10000", func(r *plate.Read) {
			r.TS = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
			r.ImageRef = "10000/01/01"
		}},
		{"many parts", func(r *plate.Read) {
			r.ImageRef = strings.Repeat(r.CameraID+"/", 100)
			r.ReadID = strings.Repeat("20261122x", 20)
		}},
		{"long fields", func(r *plate.Read) {
			r.ReadID = string(make([]byte, 128))
			r.ImageRef = string(make([]byte, 512))
		}},
	}
	for _, tt := range tests {
		want := base
		tt.change(&want)
		key := passageKey(&want)
		val := appendPassageValue(nil, &want, gatewaySeq(&want))
		got, err := decodePassage(want.PlateNorm, key, val, testCams)
		if err != nil {
			t.Errorf("%s: decode: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", tt.name, got, want)
		}
	}
}

// TestDerivedStrings checks that read ids and image refs of the usual
// gateway forms are stored as a few tokens, not their bytes.
func TestDerivedStrings(t *testing.T) {
	r := read("1ABC234", time.Date(2026, 11, 22, 7, 0, 0, 123e6, time.UTC), 1)
	r.ImageRef = "s3://anpr/2026/11/22/" + r.CameraID + "/20261122T070000.123Z.jpg"
	if v := appendPassageValue(nil, &r, gatewaySeq(&r)); v[0]&flagPlateSep == 0 {
		t.Errorf("plate %q of %q not stored as separators", r.Plate, r.PlateNorm)
	}
	var tk tokens
	tk.fill(r.CameraID, r.ReadID, r.TS)
	for _, tt := range []struct {
		s     string
		mask  int
		parts string // tokens as digits, literals as themselves
	}{
		{r.ReadID, readIDTokens, "1/3/1"},
		{r.ImageRef, imageTokens, "s3://anpr/5/1/3.jpg"},
		{"x" + r.ReadID, imageTokens, "x2"},
		{"2026-11-22T07:00:00.123Z 2026-11-22 20261122", imageTokens, "4 7 6"},
	} {
		b := appendDerived(nil, tt.s, &tk, tt.mask)
		d := decoder{b: b}
		var got strings.Builder
		for n := d.uvarint(); n > 0; n-- {
			x := d.uvarint()
			if x&7 == 0 {
				got.Write(d.bytes(x >> 3))
			} else {
				got.WriteByte(byte('0' + x))
			}
		}
		if got.String() != tt.parts || len(d.b) != 0 {
			t.Errorf("%q: parts %q, want %q", tt.s, got.String(), tt.parts)
		}
		d = decoder{b: b}
		if s := d.derived(&tk, tt.mask); s != tt.s || d.err != nil {
			t.Errorf("%q: decoded %q, %v", tt.s, s, d.err)
		}
	}
}

func TestPassageKeyOrder(t *testing.T) {
	times := []time.Time{
		time.UnixMilli(-5000), time.UnixMilli(-1), time.UnixMilli(0), time.UnixMilli(1),
		time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC),
	}
	var prev []byte
	for _, ts := range times {
		k := appendTS(nil, ts)
		if prev != nil && string(prev) >= string(k) {
			t.Errorf("key of %v does not sort after the previous one", ts)
		}
		if got := decodeTS(k); !got.Equal(ts) {
			t.Errorf("decodeTS(appendTS(%v)) = %v", ts, got)
		}
		prev = k
	}
}

func TestDecodePassageCorrupt(t *testing.T) {
	r := read("1ABC234", time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC), 1)
	gk, gv := passageKey(&r), appendPassageValue(nil, &r, gatewaySeq(&r))
	if gatewaySeq(&r) == 0 {
		t.Fatalf("read id %q is not of the gateway form", r.ReadID)
	}
	// The read part of gk: k, seq, camera.
	gp := append([]byte(nil), gk[:1+len(r.PlateNorm)+1+tsLen]...)
	r.ReadID = "opaque:" + r.ReadID // the value holds camera and read id
	key := passageKey(&r)
	val := appendPassageValue(nil, &r, gatewaySeq(&r))
	for _, tt := range []struct {
		name     string
		key, val []byte
	}{
		{"no read part", gp, gv},
		{"seq in 9 bytes", append(append(gp, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9), r.CameraID...), gv},
		{"seq with a leading zero", append(append(gp, 2, 0, 2), r.CameraID...), gv},
		{"seq past the key", append(gp, 2, 1), gv},
		{"hash of 7 bytes", append(gp, 0, 1, 2, 3, 4, 5, 6, 7), val},
		{"hash of 9 bytes", append(gp, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9), val},
		{"empty value", key, nil},
		{"truncated value", key, val[:len(val)-1]},
		{"trailing bytes", key, append(append([]byte(nil), val...), 0)},
		{"short key", key[:len(key)-1], val},
		{"class code 6", key, append([]byte{6}, val[1:]...)},
		{"unknown token", key, corruptPart(val, 7<<3|1)},
		{"separator flag without plate flag", key, append([]byte{val[0] &^ flagPlateDiff}, val[1:]...)},
		{"token with a length", key, corruptPart(val, 1<<3|1)},
	} {
		if _, err := decodePassage(r.PlateNorm, tt.key, tt.val, testCams); err == nil {
			t.Errorf("%s: decode succeeded, want an error", tt.name)
		}
	}
}

// corruptPart returns val with the first part of its read id replaced by x.
func corruptPart(val []byte, x byte) []byte {
	d := decoder{b: val[1:]}
	d.string()  // camera id
	d.uvarint() // parts
	i := len(val) - len(d.b)
	out := append([]byte(nil), val...)
	out[i] = x
	return out
}

// FuzzPassageCodec checks that every read survives encoding, and that
// decoding arbitrary bytes fails cleanly.
func FuzzPassageCodec(f *testing.F) {
	f.Add("CAM-1/20261122T070000.123Z/1", "CAM-1", int64(1795330800123), "1-abc-234", "BE", 0.93, 2, "car", "s3://x", []byte{1, 2})
	f.Add("x", "", int64(-1), "zz", "", -1.0, -1, "", "", []byte{})
	f.Add("CAM-1/2026-11-22T07:00:00.123Z", "CAM-1", int64(1795330800123), "1ABC234", "BE", 0.5, 1, "car",
		"s3://anpr/2026/11/22/CAM-1/CAM-1/2026-11-22T07:00:00.123Z/20261122T070000.123Z.jpg", []byte{0x81, 1, 9})
	f.Fuzz(func(t *testing.T, readID, camera string, ms int64, plateRead, country string,
		conf float64, lane int, class, image string, junk []byte) {
		norm, ok := plate.Normalize(plateRead)
		if !ok || readID == "" || math.IsNaN(conf) || ms < -1e15 || ms > 1e15 {
			return
		}
		want := plate.Read{ReadID: readID, CameraID: camera, TS: time.UnixMilli(ms).UTC(),
			Plate: plateRead, PlateNorm: norm, Country: country, Confidence: conf, Lane: lane,
			VehicleClass: class, ImageRef: image}
		key := passageKey(&want)
		got, err := decodePassage(norm, key, appendPassageValue(nil, &want, gatewaySeq(&want)), testCams)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("\ngot  %+v\nwant %+v", got, want)
		}
		_, _ = decodePassage(norm, key, junk, testCams)
		_, _ = decodeEvent(Hits, 1, junk)
	})
}

// TestPassageKeyIdentity checks that a passage key is a function of camera,
// read id, plate and capture time (to the ms) only, whether its read part
// is the gateway form's sequence number or a hash.
func TestPassageKeyIdentity(t *testing.T) {
	base := read("1ABC234", time.Date(2026, 11, 22, 7, 0, 0, 123e6, time.UTC), 1)
	tests := []struct {
		name   string
		change func(r *plate.Read)
		same   bool
	}{
		{"same read", func(r *plate.Read) {}, true},
		{"other fields", func(r *plate.Read) { r.Confidence, r.Lane, r.ImageRef, r.Country = 0.1, 3, "y", "NL" }, true},
		{"sub-millisecond", func(r *plate.Read) { r.TS = r.TS.Add(999 * time.Microsecond) }, true},
		{"other camera", func(r *plate.Read) { r.CameraID += "x" }, false},
		{"other read id", func(r *plate.Read) { r.ReadID += "1" }, false},
		{"other millisecond", func(r *plate.Read) { r.TS = r.TS.Add(time.Millisecond) }, false},
		{"other plate", func(r *plate.Read) { r.PlateNorm = "1ABC235" }, false},
	}
	hashed := base
	hashed.ReadID = "opaque:" + base.ReadID
	for _, base := range []plate.Read{base, hashed} {
		if (gatewaySeq(&base) == 0) != (base.ReadID == hashed.ReadID) {
			t.Fatalf("read id %q: gatewaySeq %d", base.ReadID, gatewaySeq(&base))
		}
		want := passageKey(&base)
		for _, tt := range tests {
			r := base
			tt.change(&r)
			if got := passageKey(&r); bytes.Equal(got, want) != tt.same {
				t.Errorf("%s, read id %q: key %x, base key %x; want equal = %v", tt.name, base.ReadID, got, want, tt.same)
			}
		}
	}
	want := passageKey(&base)
	// The key is appended after dst's bytes, without allocating when dst has room.
	dst := append(make([]byte, 0, 256), "prefix"...)
	if got := appendPassageKey(dst, &base, gatewaySeq(&base), codeOf(base.CameraID)); string(got[:6]) != "prefix" || !bytes.Equal(got[6:], want) {
		t.Errorf("appendPassageKey(prefix) = %q, want prefix then %x", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { appendPassageKey(dst, &hashed, 0, 0) }); n != 0 {
		t.Errorf("appendPassageKey allocates %v times, want 0", n)
	}
}

// BenchmarkPassageValue measures encoding and decoding one passage value of
// the usual gateway forms.
//
//	go test -run '^$' -bench PassageValue ./internal/store/
func BenchmarkPassageValue(b *testing.B) {
	r := newGen(1000, 1).read()
	key := passageKey(&r)
	buf := appendPassageValue(nil, &r, gatewaySeq(&r))
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = appendPassageValue(buf[:0], &r, gatewaySeq(&r))
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodePassage(r.PlateNorm, key, buf, testCams); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPlateKey: a packed plate gives its bytes back and orders as the
// plate strings do, for every length a plate can have.
func TestPlateKey(t *testing.T) {
	plates := []string{"AB", "A0", "ABC", "AB0", "ABCD", "ABCDE", "ABCDEF", "1ABC234", "1ABC2345", "ABCDEFGHI", "ABCDEFGHIJ", "Z99999999999", "Z9999999999", "ZZZZZZZZZZZZ", "99", "0A"}
	for _, p := range plates {
		k := packPlate(p)
		if got := k.String(); got != p || k.len() != len(p) || packPlate([]byte(p)) != k {
			t.Errorf("packPlate(%q): back %q, len %d", p, got, k.len())
		}
		for _, q := range plates {
			if got, want := k.compare(packPlate(q)), strings.Compare(p, q); got != want {
				t.Errorf("compare(%q, %q) = %d, want %d", p, q, got, want)
			}
		}
	}
}

// testCams is an in-memory camera dictionary for tests that build keys
// without a store.
var testCams = &cameraDict{codes: map[string]uint64{}}

// codeOf returns camera's code in testCams, giving it the next if it has
// none.
func codeOf(camera string) uint64 {
	testCams.mu.Lock()
	defer testCams.mu.Unlock()
	c, ok := testCams.codes[camera]
	if !ok {
		c = uint64(len(testCams.ids))
		testCams.codes[camera] = c
		testCams.ids = append(testCams.ids, camera)
	}
	return c
}

// passageKey is r's passage key, its camera coded in testCams.
func passageKey(r *plate.Read) []byte {
	return appendPassageKey(nil, r, gatewaySeq(r), codeOf(r.CameraID))
}
