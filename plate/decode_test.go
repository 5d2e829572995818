package plate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// typicalJSON is the SPEC §3 example read.
const typicalJSON = `{"read_id":"CAM-E40-101/20261122T070000.123Z/1","camera_id":"CAM-E40-101",` +
	`"ts":"2026-11-22T07:00:00.123Z","plate":"1-ABC-234","country":"BE","confidence":0.93,` +
	`"lane":2,"vehicle_class":"car","image_ref":"s3://anpr/2026/11/22/x.jpg"}`

// typicalRead is typicalJSON decoded.
func typicalRead() Read {
	return Read{
		ReadID:       "CAM-E40-101/20261122T070000.123Z/1",
		CameraID:     "CAM-E40-101",
		TS:           time.Date(2026, 11, 22, 7, 0, 0, 123e6, time.UTC),
		Plate:        "1-ABC-234",
		PlateNorm:    "1ABC234",
		Country:      "BE",
		Confidence:   0.93,
		Lane:         2,
		VehicleClass: ClassCar,
		ImageRef:     "s3://anpr/2026/11/22/x.jpg",
	}
}

// typicalFields are the fields of typicalJSON as raw JSON values, in order.
var typicalFields = [][2]string{
	{"read_id", `"CAM-E40-101/20261122T070000.123Z/1"`},
	{"camera_id", `"CAM-E40-101"`},
	{"ts", `"2026-11-22T07:00:00.123Z"`},
	{"plate", `"1-ABC-234"`},
	{"country", `"BE"`},
	{"confidence", `0.93`},
	{"lane", `2`},
	{"vehicle_class", `"car"`},
	{"image_ref", `"s3://anpr/2026/11/22/x.jpg"`},
}

// with returns typicalJSON with field set to the raw JSON value raw, or
// without field when raw is "".
func with(field, raw string) string {
	var b strings.Builder
	b.WriteByte('{')
	for _, f := range typicalFields {
		v := f[1]
		if f[0] == field {
			v = raw
		}
		if v == "" {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", f[0], v)
	}
	b.WriteByte('}')
	return b.String()
}

func reasonOf(err error) string {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Reason
	}
	if err != nil {
		return "not a *DecodeError: " + err.Error()
	}
	return ""
}

func TestDecodeTypical(t *testing.T) {
	var got Read
	if err := Decode([]byte(typicalJSON), &got); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if want := typicalRead(); got != want {
		t.Errorf("Decode:\n got %+v\nwant %+v", got, want)
	}
	if got.TS.Location() != time.UTC {
		t.Errorf("TS location = %v, want UTC", got.TS.Location())
	}
}

func TestDecodeFields(t *testing.T) {
	ts := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	rep := strings.Repeat
	tests := []struct {
		field, raw string // raw "" removes the field
		reason     string // "" for success
		want       func(r *Read)
	}{
		// read_id: 1..128 printable characters.
		{"read_id", `"a"`, "", func(r *Read) { r.ReadID = "a" }},
		{"read_id", `"` + rep("a", 128) + `"`, "", func(r *Read) { r.ReadID = rep("a", 128) }},
		{"read_id", `"` + rep("a", 129) + `"`, ReasonInvalidField, nil},
		{"read_id", `"` + rep("é", 128) + `"`, "", func(r *Read) { r.ReadID = rep("é", 128) }},
		{"read_id", `"` + rep("é", 129) + `"`, ReasonInvalidField, nil},
		{"read_id", `"` + rep(`\u00e9`, 128) + `"`, "", func(r *Read) { r.ReadID = rep("é", 128) }},
		{"read_id", `"a b/1"`, "", func(r *Read) { r.ReadID = "a b/1" }},
		{"read_id", `""`, ReasonInvalidField, nil},
		{"read_id", ``, ReasonMissingField, nil},
		{"read_id", `null`, ReasonMissingField, nil},
		{"read_id", `123`, ReasonInvalidField, nil},
		{"read_id", `["a"]`, ReasonInvalidField, nil},
		{"read_id", `"a\u0001b"`, ReasonInvalidField, nil},
		{"read_id", `"a\tb"`, ReasonInvalidField, nil},
		{"read_id", "\"a\u007fb\"", ReasonInvalidField, nil},
		{"read_id", `"a\u0085b"`, ReasonInvalidField, nil},
		{"read_id", "\"a\u0085b\"", ReasonInvalidField, nil},
		// camera_id: 1..64 characters.
		{"camera_id", `"` + rep("C", 64) + `"`, "", func(r *Read) { r.CameraID = rep("C", 64) }},
		{"camera_id", `"` + rep("C", 65) + `"`, ReasonInvalidField, nil},
		{"camera_id", `""`, ReasonInvalidField, nil},
		{"camera_id", ``, ReasonMissingField, nil},
		{"camera_id", `null`, ReasonMissingField, nil},
		{"camera_id", `"CAM\n1"`, ReasonInvalidField, nil},
		{"camera_id", `true`, ReasonInvalidField, nil},
		// ts: RFC 3339, stored in UTC, truncated to the millisecond.
		{"ts", `"2026-11-22T07:00:00Z"`, "", func(r *Read) { r.TS = ts("2026-11-22T07:00:00Z") }},
		{"ts", `"2026-11-22T07:00:00.1Z"`, "", func(r *Read) { r.TS = ts("2026-11-22T07:00:00.1Z") }},
		{"ts", `"2026-11-22T07:00:00.123456789Z"`, "", func(r *Read) { r.TS = ts("2026-11-22T07:00:00.123Z") }},
		{"ts", `"2026-11-22T07:00:00.9999999999999Z"`, "", func(r *Read) { r.TS = ts("2026-11-22T07:00:00.999Z") }},
		{"ts", `"2026-11-22T08:00:00.5+01:00"`, "", func(r *Read) { r.TS = ts("2026-11-22T07:00:00.5Z") }},
		{"ts", `"2026-11-22T01:30:00-05:30"`, "", func(r *Read) { r.TS = ts("2026-11-22T07:00:00Z") }},
		{"ts", `"2026-11-22T07:00:00-00:00"`, "", func(r *Read) { r.TS = ts("2026-11-22T07:00:00Z") }},
		{"ts", `"2026-11-23T00:30:00+23:59"`, "", func(r *Read) { r.TS = ts("2026-11-22T00:31:00Z") }},
		{"ts", `"2026-11-22t07:00:00z"`, "", func(r *Read) { r.TS = ts("2026-11-22T07:00:00Z") }},
		{"ts", `"2024-02-29T00:00:00Z"`, "", func(r *Read) { r.TS = ts("2024-02-29T00:00:00Z") }},
		{"ts", `"2000-02-29T00:00:00Z"`, "", func(r *Read) { r.TS = ts("2000-02-29T00:00:00Z") }},
		{"ts", `"0000-01-01T00:00:00Z"`, "", func(r *Read) { r.TS = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"ts", `"9999-12-31T23:59:59.999Z"`, "", func(r *Read) { r.TS = ts("9999-12-31T23:59:59.999Z") }},
		{"ts", `"2026\u002d11-22T07:00:00Z"`, "", func(r *Read) { r.TS = ts("2026-11-22T07:00:00Z") }},
		{"ts", `"1900-02-29T00:00:00Z"`, ReasonInvalidField, nil},
		{"ts", `"2026-02-29T00:00:00Z"`, ReasonInvalidField, nil},
		{"ts", `"2026-04-31T00:00:00Z"`, ReasonInvalidField, nil},
		{"ts", `"2026-13-01T00:00:00Z"`, ReasonInvalidField, nil},
		{"ts", `"2026-00-01T00:00:00Z"`, ReasonInvalidField, nil},
		{"ts", `"2026-11-00T00:00:00Z"`, ReasonInvalidField, nil},
		{"ts", `"2026-11-22T24:00:00Z"`, ReasonInvalidField, nil},
		{"ts", `"2026-11-22T07:60:00Z"`, ReasonInvalidField, nil},
		{"ts", `"2026-11-22T07:00:60Z"`, ReasonInvalidField, nil},
		{"ts", `"2026-11-22 07:00:00Z"`, ReasonInvalidField, nil},
		{"ts", `"2026-11-22T07:00:00"`, ReasonInvalidField, nil},
		{"ts", `"2026-11-22T07:00Z"`, ReasonInvalidField, nil},
		{"ts", `"2026-11-22"`, ReasonInvalidField, nil},
		{"ts", `"2026-11-22T07:00:00.Z"`, ReasonInvalidField, nil},
		{"ts", `"2026-11-22T07:00:00,5Z"`, ReasonInvalidField, nil},
		{"ts", `"2026-11-22T07:00:00+01"`, ReasonInvalidField, nil},
		{"ts", `"2026-11-22T07:00:00+0100"`, ReasonInvalidField, nil},
		{"ts", `"2026-11-22T07:00:00+24:00"`, ReasonInvalidField, nil},
		{"ts", `"2026-11-22T07:00:00+01:60"`, ReasonInvalidField, nil},
		{"ts", `"2026-11-22T07:00:00ZZ"`, ReasonInvalidField, nil},
		{"ts", `"+2026-11-22T07:00:00Z"`, ReasonInvalidField, nil},
		{"ts", `"2026-1-22T07:00:00Z"`, ReasonInvalidField, nil},
		{"ts", `"0000-01-01T00:00:00+01:00"`, ReasonInvalidField, nil}, // year -1 in UTC
		{"ts", `"9999-12-31T23:59:59-01:00"`, ReasonInvalidField, nil}, // year 10000 in UTC
		{"ts", `""`, ReasonInvalidField, nil},
		{"ts", `1764000000`, ReasonInvalidField, nil},
		{"ts", ``, ReasonMissingField, nil},
		{"ts", `null`, ReasonMissingField, nil},
		// plate: 2..12 characters after normalizing.
		{"plate", `"1ABC234"`, "", func(r *Read) { r.Plate, r.PlateNorm = "1ABC234", "1ABC234" }},
		{"plate", `"1-abc-234"`, "", func(r *Read) { r.Plate, r.PlateNorm = "1-abc-234", "1ABC234" }},
		{"plate", `" ab "`, "", func(r *Read) { r.Plate, r.PlateNorm = " ab ", "AB" }},
		{"plate", `"ÄB1"`, "", func(r *Read) { r.Plate, r.PlateNorm = "ÄB1", "B1" }},
		{"plate", `"` + rep("A", 12) + `"`, "", func(r *Read) { r.Plate, r.PlateNorm = rep("A", 12), rep("A", 12) }},
		{"plate", `"` + rep("A-", 12) + `"`, "", func(r *Read) { r.Plate, r.PlateNorm = rep("A-", 12), rep("A", 12) }},
		{"plate", `"` + rep("A", 13) + `"`, ReasonInvalidField, nil},
		{"plate", `"A"`, ReasonInvalidField, nil},
		{"plate", `"--"`, ReasonInvalidField, nil},
		{"plate", `""`, ReasonInvalidField, nil},
		{"plate", `7`, ReasonInvalidField, nil},
		{"plate", ``, ReasonMissingField, nil},
		{"plate", `null`, ReasonMissingField, nil},
		// country: ISO 3166-1 alpha-2 or empty.
		{"country", `"NL"`, "", func(r *Read) { r.Country = "NL" }},
		{"country", `"be"`, "", func(r *Read) { r.Country = "BE" }},
		{"country", `"zZ"`, "", func(r *Read) { r.Country = "ZZ" }},
		{"country", `""`, "", func(r *Read) { r.Country = "" }},
		{"country", `null`, "", func(r *Read) { r.Country = "" }},
		{"country", ``, "", func(r *Read) { r.Country = "" }},
		{"country", `"BEL"`, ReasonInvalidField, nil},
		{"country", `"B"`, ReasonInvalidField, nil},
		{"country", `"B1"`, ReasonInvalidField, nil},
		{"country", `"B "`, ReasonInvalidField, nil},
		{"country", `"BÉ"`, ReasonInvalidField, nil},
		{"country", `32`, ReasonInvalidField, nil},
		// confidence: 0..1.
		{"confidence", `0`, "", func(r *Read) { r.Confidence = 0 }},
		{"confidence", `-0`, "", func(r *Read) { r.Confidence = 0 }},
		{"confidence", `1`, "", func(r *Read) { r.Confidence = 1 }},
		{"confidence", `1.0`, "", func(r *Read) { r.Confidence = 1 }},
		{"confidence", `5E-1`, "", func(r *Read) { r.Confidence = 0.5 }},
		{"confidence", `1e-400`, "", func(r *Read) { r.Confidence = 0 }},
		{"confidence", `null`, "", func(r *Read) { r.Confidence = -1 }},
		{"confidence", ``, "", func(r *Read) { r.Confidence = -1 }},
		{"confidence", `1.0000001`, ReasonInvalidField, nil},
		{"confidence", `-0.0001`, ReasonInvalidField, nil},
		{"confidence", `1e400`, ReasonInvalidField, nil},
		{"confidence", `"0.5"`, ReasonInvalidField, nil},
		{"confidence", `true`, ReasonInvalidField, nil},
		// lane: integer ≥ 0.
		{"lane", `0`, "", func(r *Read) { r.Lane = 0 }},
		{"lane", `-0`, "", func(r *Read) { r.Lane = 0 }},
		{"lane", `17`, "", func(r *Read) { r.Lane = 17 }},
		{"lane", `9223372036854775807`, "", func(r *Read) { r.Lane = math.MaxInt64 }},
		{"lane", `null`, "", func(r *Read) { r.Lane = -1 }},
		{"lane", ``, "", func(r *Read) { r.Lane = -1 }},
		{"lane", `-1`, ReasonInvalidField, nil},
		{"lane", `9223372036854775808`, ReasonInvalidField, nil},
		{"lane", `2.0`, ReasonInvalidField, nil},
		{"lane", `2e0`, ReasonInvalidField, nil},
		{"lane", `"2"`, ReasonInvalidField, nil},
		{"lane", `{}`, ReasonInvalidField, nil},
		// vehicle_class: one of six, default unknown.
		{"vehicle_class", `"van"`, "", func(r *Read) { r.VehicleClass = ClassVan }},
		{"vehicle_class", `"truck"`, "", func(r *Read) { r.VehicleClass = ClassTruck }},
		{"vehicle_class", `"bus"`, "", func(r *Read) { r.VehicleClass = ClassBus }},
		{"vehicle_class", `"motorcycle"`, "", func(r *Read) { r.VehicleClass = ClassMotorcycle }},
		{"vehicle_class", `"unknown"`, "", func(r *Read) { r.VehicleClass = ClassUnknown }},
		{"vehicle_class", `"Truck"`, "", func(r *Read) { r.VehicleClass = ClassTruck }},
		{"vehicle_class", `"CAR"`, "", func(r *Read) { r.VehicleClass = ClassCar }},
		{"vehicle_class", `""`, "", func(r *Read) { r.VehicleClass = ClassUnknown }},
		{"vehicle_class", `null`, "", func(r *Read) { r.VehicleClass = ClassUnknown }},
		{"vehicle_class", ``, "", func(r *Read) { r.VehicleClass = ClassUnknown }},
		{"vehicle_class", `"plane"`, ReasonInvalidField, nil},
		{"vehicle_class", `"cars"`, ReasonInvalidField, nil},
		{"vehicle_class", `"truc\u212a"`, ReasonInvalidField, nil}, // Kelvin sign folds to k in Unicode
		{"vehicle_class", `1`, ReasonInvalidField, nil},
		// image_ref: at most 512 characters.
		{"image_ref", `"` + rep("i", 512) + `"`, "", func(r *Read) { r.ImageRef = rep("i", 512) }},
		{"image_ref", `"` + rep("ï", 512) + `"`, "", func(r *Read) { r.ImageRef = rep("ï", 512) }},
		{"image_ref", `"` + rep("i", 513) + `"`, ReasonInvalidField, nil},
		{"image_ref", `"` + rep("ï", 513) + `"`, ReasonInvalidField, nil},
		{"image_ref", `""`, "", func(r *Read) { r.ImageRef = "" }},
		{"image_ref", `null`, "", func(r *Read) { r.ImageRef = "" }},
		{"image_ref", ``, "", func(r *Read) { r.ImageRef = "" }},
		{"image_ref", `false`, ReasonInvalidField, nil},
	}
	for _, tt := range tests {
		in := with(tt.field, tt.raw)
		name := tt.field + "=" + tt.raw
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			var got Read
			err := Decode([]byte(in), &got)
			if reason := reasonOf(err); reason != tt.reason {
				t.Fatalf("Decode(%s) reason = %q (%v), want %q", in, reason, err, tt.reason)
			}
			if err != nil {
				var de *DecodeError
				errors.As(err, &de)
				if tt.reason != ReasonInvalidJSON && de.Field != tt.field {
					t.Errorf("Field = %q, want %q", de.Field, tt.field)
				}
				if de.Detail == "" || !strings.Contains(err.Error(), de.Detail) {
					t.Errorf("Error() = %q, Detail = %q", err.Error(), de.Detail)
				}
				return
			}
			want := typicalRead()
			tt.want(&want)
			if got != want {
				t.Errorf("Decode(%s):\n got %+v\nwant %+v", in, got, want)
			}
			checkRules(t, &got)
		})
	}
}

func TestDecodeStringEscapes(t *testing.T) {
	tests := []struct{ raw, want string }{
		{`"plain"`, "plain"},
		{`"a\"b\\c\/d"`, `a"b\c/d`},
		{`"\b\f\n\r\t"`, "\b\f\n\r\t"},
		{`"\u0000"`, "\x00"},
		{`"\u00e9\u00E9\u20ac"`, "éé€"},
		{`"é€🚗"`, "é€🚗"},
		{`"\ud83d\ude97"`, "🚗"},
		{`"\uD83D\uDE97x"`, "🚗x"},
		{`"\ud83dx"`, "\uFFFDx"},            // lone high surrogate
		{`"\ude97"`, "\uFFFD"},              // lone low surrogate
		{`"\ud83d"`, "\uFFFD"},              // high surrogate at the end
		{`"\ud83d\ud83d\ude97"`, "\uFFFD🚗"}, // high then a pair
		{`"\ud83d\u0041"`, "\uFFFDA"},       // high then not a surrogate
		{`"\ud83d\n"`, "\uFFFD\n"},
		{`"x\\u0041"`, `x\u0041`},
	}
	for _, tt := range tests {
		in := with("image_ref", tt.raw)
		var got Read
		if err := Decode([]byte(in), &got); err != nil {
			t.Errorf("Decode(image_ref=%s): %v", tt.raw, err)
			continue
		}
		if got.ImageRef != tt.want {
			t.Errorf("Decode(image_ref=%s).ImageRef = %q, want %q", tt.raw, got.ImageRef, tt.want)
		}
		var ref struct {
			ImageRef string `json:"image_ref"`
		}
		if err := json.Unmarshal([]byte(in), &ref); err != nil || ref.ImageRef != got.ImageRef {
			t.Errorf("encoding/json disagrees on image_ref=%s: %q, %v; we have %q", tt.raw, ref.ImageRef, err, got.ImageRef)
		}
	}
}

func TestDecodeObjectShape(t *testing.T) {
	base := typicalRead()
	tail := typicalJSON[1:]
	tests := []struct {
		name, in string
		want     func(r *Read)
	}{
		{"unknown scalars", `{"x":1,"y":"s","z":true,"w":false,"v":null,"u":-1.5e3,` + tail, nil},
		{"unknown nested", `{"extra":{"a":[1,2,{"b":null,"c":[[],{}]}],"d":"}]\"{["},"e":[],"f":{},` + tail, nil},
		{"unknown after", typicalJSON[:len(typicalJSON)-1] + `,"zz":[{"read_id":"no"}]}`, nil},
		{"plate_norm is recomputed", `{"plate_norm":"XYZ",` + tail, nil},
		{"whitespace", " \t\r\n{ \"read_id\" : \"CAM-E40-101/20261122T070000.123Z/1\" ,\n" + tail + " \n", nil},
		{"escaped key", `{"read\u005fid":"R","pl\u0061te":"AB",` + tail[strings.Index(tail, `"camera_id"`):], func(r *Read) {
			r.ReadID = "R"                                // matched through the escape
			r.Plate, r.PlateNorm = "1-ABC-234", "1ABC234" // the later plain plate wins
		}},
		{"duplicate last wins", typicalJSON[:len(typicalJSON)-1] + `,"lane":5,"plate":"XY 12"}`, func(r *Read) {
			r.Lane = 5
			r.Plate, r.PlateNorm = "XY 12", "XY12"
		}},
		{"duplicate invalid then valid", `{"lane":"x",` + tail, nil},
		{"duplicate to null", typicalJSON[:len(typicalJSON)-1] + `,"lane":null,"country":null}`, func(r *Read) {
			r.Lane = -1
			r.Country = ""
		}},
		{"names are case-sensitive", `{"LANE":"x","Read_ID":7,` + tail, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Read
			if err := Decode([]byte(tt.in), &got); err != nil {
				t.Fatalf("Decode(%s): %v", tt.in, err)
			}
			want := base
			if tt.want != nil {
				tt.want(&want)
			}
			if got != want {
				t.Errorf("Decode(%s):\n got %+v\nwant %+v", tt.in, got, want)
			}
		})
	}

	var r Read
	if err := Decode([]byte(`{"Read_ID":"R","camera_id":"C","ts":"2026-11-22T07:00:00Z","plate":"AB"}`), &r); reasonOf(err) != ReasonMissingField {
		t.Errorf("Read_ID for read_id: got %v, want missing_field", err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	valid := typicalJSON
	tests := []struct {
		name, in  string
		jsonValid bool // valid JSON, but not an object
	}{
		{"empty", ``, false},
		{"space", ` `, false},
		{"null", `null`, true},
		{"array", `[` + valid + `]`, true},
		{"string", `"read"`, true},
		{"number", `1`, true},
		{"open", `{`, false},
		{"truncated", valid[:len(valid)-1], false},
		{"truncated in string", valid[:40], false},
		{"truncated in number", valid[:strings.Index(valid, "0.93")+2], false},
		{"no value", `{"read_id":}`, false},
		{"no colon", `{"read_id" "x"}`, false},
		{"key not string", `{read_id:"x"}`, false},
		{"leading comma", `{,"a":1}`, false},
		{"trailing comma", `{"a":1,}`, false},
		{"double comma", `{"a":1,,"b":2}`, false},
		{"missing comma", `{"a":1 "b":2}`, false},
		{"trailing garbage", valid + `x`, false},
		{"two objects", valid + `{}`, false},
		{"trailing comma after object", valid + `,`, false},
		{"unterminated string", `{"a":"abc}`, false},
		{"bad escape", `{"a":"\x41"}`, false},
		{"single-quote escape", `{"a":"\'"}`, false},
		{"short unicode escape", `{"a":"\u12"}`, false},
		{"bad hex", `{"a":"\u12G4"}`, false},
		{"escape at end", `{"a":"\`, false},
		{"raw tab in string", "{\"a\":\"a\tb\"}", false},
		{"raw newline in key", "{\"a\nb\":1}", false},
		{"raw NUL", "{\"a\":\"\x00\"}", false},
		{"leading zero", `{"a":01}`, false},
		{"dot without digits", `{"a":1.}`, false},
		{"leading dot", `{"a":.5}`, false},
		{"minus alone", `{"a":-}`, false},
		{"exponent without digits", `{"a":1e}`, false},
		{"exponent sign only", `{"a":1e+}`, false},
		{"plus sign", `{"a":+1}`, false},
		{"hex number", `{"a":0x10}`, false},
		{"NaN", `{"a":NaN}`, false},
		{"Infinity", `{"a":Infinity}`, false},
		{"bad literal", `{"a":tru}`, false},
		{"bad null", `{"a":nul}`, false},
		{"capital True", `{"a":True}`, false},
		{"literal prefix", `{"a":nullx}`, false},
		{"single quotes", `{'a':1}`, false},
		{"comment", `{/* c */"a":1}`, false},
		{"unclosed array", `{"a":[1,2}`, false},
		{"mismatched close", `{"a":{"b":1]}`, false},
		{"array trailing comma", `{"a":[1,]}`, false},
		{"array missing comma", `{"a":[1 2]}`, false},
		{"BOM", "\ufeff" + valid, false},
		{"NBSP whitespace", "{\u00a0\"a\":1}", false},
		{"field error then syntax error", `{"lane":"x","plate":"AB"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if json.Valid([]byte(tt.in)) != tt.jsonValid {
				t.Fatalf("bad test: json.Valid(%q) = %v", tt.in, !tt.jsonValid)
			}
			var r Read
			err := Decode([]byte(tt.in), &r)
			if reason := reasonOf(err); reason != ReasonInvalidJSON {
				t.Errorf("Decode(%q) = %v, want %s", tt.in, err, ReasonInvalidJSON)
			}
		})
	}

	// Invalid UTF-8 is not valid JSON (RFC 8259 §8.1), though encoding/json
	// lets it through.
	for _, in := range []string{
		with("image_ref", "\"a\xffb\""),
		with("plate", "\"AB\xc3\""),
		with("read_id", "\"\xed\xa0\x80\""), // an encoded surrogate
		`{"unknown":"` + "\xc0\xaf" + `",` + typicalJSON[1:],
		"{\"\xff\":1," + typicalJSON[1:],
	} {
		var r Read
		if err := Decode([]byte(in), &r); reasonOf(err) != ReasonInvalidJSON {
			t.Errorf("Decode(%q) = %v, want %s", in, err, ReasonInvalidJSON)
		}
	}
}

func TestDecodeTooLarge(t *testing.T) {
	pad := func(n int) []byte {
		// Pad typicalJSON to exactly n bytes with an unknown field.
		head := `{"pad":"`
		fill := n - len(head) - len(`",`) - (len(typicalJSON) - 1)
		return []byte(head + strings.Repeat("p", fill) + `",` + typicalJSON[1:])
	}
	var r Read
	if in := pad(MaxRecordBytes); len(in) != MaxRecordBytes {
		t.Fatalf("bad test: pad gave %d bytes", len(in))
	} else if err := Decode(in, &r); err != nil {
		t.Errorf("Decode(%d bytes) = %v, want success", len(in), err)
	}
	in := pad(MaxRecordBytes + 1)
	if err := Decode(in, &r); reasonOf(err) != ReasonTooLarge {
		t.Errorf("Decode(%d bytes) = %v, want %s", len(in), err, ReasonTooLarge)
	}
	// Too large wins over invalid JSON.
	if err := Decode(bytes.Repeat([]byte("x"), MaxRecordBytes+1), &r); reasonOf(err) != ReasonTooLarge {
		t.Errorf("Decode(4097 x) = %v, want %s", err, ReasonTooLarge)
	}
}

func TestDecodeErrorOrder(t *testing.T) {
	tests := []struct {
		in          string
		reason, fld string
	}{
		{`{"read_id":"","camera_id":"","lane":-1}`, ReasonInvalidField, "read_id"},
		{`{"lane":-1,"camera_id":""}`, ReasonMissingField, "read_id"},
		{`{"read_id":"R","lane":-1}`, ReasonMissingField, "camera_id"},
		{`{"read_id":"R","camera_id":"C","plate":"A","lane":-1}`, ReasonMissingField, "ts"},
		{`{"read_id":"R","camera_id":"C","ts":"2026-11-22T07:00:00Z","plate":"A","lane":-1}`, ReasonInvalidField, "plate"},
		{`{"read_id":"R","camera_id":"C","ts":"2026-11-22T07:00:00Z","plate":"AB","lane":-1,"vehicle_class":"x"}`, ReasonInvalidField, "lane"},
	}
	for _, tt := range tests {
		var r Read
		err := Decode([]byte(tt.in), &r)
		var de *DecodeError
		if !errors.As(err, &de) || de.Reason != tt.reason || de.Field != tt.fld {
			t.Errorf("Decode(%s) = %#v, want %s on %s", tt.in, err, tt.reason, tt.fld)
		}
	}
}

func TestDecodeErrorHasNoPlate(t *testing.T) {
	for _, p := range []string{"Q", "QQQQQQQQQQQQQ", "--", "Q-Q-Q-Q-Q-Q-Q-Q-Q-Q-Q-Q-Q"} {
		var r Read
		err := Decode([]byte(with("plate", strconv.Quote(p))), &r)
		var de *DecodeError
		if !errors.As(err, &de) || de.Reason != ReasonInvalidField {
			t.Fatalf("plate %q: got %v, want invalid_field", p, err)
		}
		if strings.Contains(err.Error(), "Q") {
			t.Errorf("plate %q: error %q shows the plate", p, err)
		}
	}
	var r Read
	err := Decode([]byte(with("plate", `"A"`)), &r)
	if want := "plate has 1 character after normalizing, need 2..12"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("plate A: error %v, want it to contain %q", err, want)
	}
	// A syntax error inside the plate does not quote it either.
	err = Decode([]byte(`{"plate":"QQ`+"\x01"+`QQ"}`), &r)
	if reasonOf(err) != ReasonInvalidJSON || strings.Contains(err.Error(), "Q") {
		t.Errorf("syntax error in plate: %v", err)
	}
}

func TestDecodeOverwrites(t *testing.T) {
	var r Read
	if err := Decode([]byte(typicalJSON), &r); err != nil {
		t.Fatal(err)
	}
	min := `{"read_id":"R","camera_id":"C","ts":"2026-11-22T07:00:00Z","plate":"AB12"}`
	if err := Decode([]byte(min), &r); err != nil {
		t.Fatal(err)
	}
	want := Read{ReadID: "R", CameraID: "C", TS: time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC),
		Plate: "AB12", PlateNorm: "AB12", Confidence: -1, Lane: -1, VehicleClass: ClassUnknown}
	if r != want {
		t.Errorf("Decode(%s) over a full read:\n got %+v\nwant %+v", min, r, want)
	}
}

func TestCheckTime(t *testing.T) {
	now := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	tests := []struct {
		ts     time.Time
		reason string
	}{
		{now, ""},
		{now.Add(-365 * 24 * time.Hour), ""},
		{now.Add(time.Hour), ""},
		{now.Add(time.Hour + time.Millisecond), ReasonFutureTS},
		{now.Add(48 * time.Hour), ReasonFutureTS},
	}
	for _, tt := range tests {
		r := Read{TS: tt.ts}
		err := r.CheckTime(now.In(time.FixedZone("CET", 3600)))
		if got := reasonOf(err); got != tt.reason {
			t.Errorf("CheckTime(ts = now%+v) = %v, want %q", tt.ts.Sub(now), err, tt.reason)
		}
		if err != nil && !strings.Contains(err.Error(), "ahead") {
			t.Errorf("CheckTime error %q", err)
		}
	}
}

// TestDecodeAllocs pins the allocation budget: the strings a Read keeps
// (PlateNorm included) share one allocation.
func TestDecodeAllocs(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  float64
	}{
		{"plate=dashed", typicalJSON, 1},
		{"plate=normalized", with("plate", `"1ABC234"`), 1},
		{"country=lower", with("country", `"be"`), 1},
	}
	for _, tt := range tests {
		in := []byte(tt.in)
		var r Read
		got := testing.AllocsPerRun(100, func() {
			if err := Decode(in, &r); err != nil {
				t.Fatal(err)
			}
		})
		if got > tt.max {
			t.Errorf("%s: Decode allocates %v times, want at most %v", tt.name, got, tt.max)
		}
	}
}

// TestDecodeCopies: Decode reads data in place, so r must not refer to it:
// overwriting data after Decode leaves r as it was.
func TestDecodeCopies(t *testing.T) {
	inputs := []string{
		typicalJSON,
		with("plate", `"1ABC234"`),
		with("read_id", `"R\u0031\/\u00e9"`),
		with("camera_id", `"C\"1"`),
		with("plate", `"1\u002dAB"`),
		with("image_ref", `"s3:\/\/anpr\/\ud83d\ude97.jpg"`),
		with("country", `"b\u0065"`),
		with("vehicle_class", `"\u0043ar"`),
		`{"read_id":"a","read_id":"b","camera_id":"c","ts":"2026-11-22t07:00:00z","plate":"ab","x":{"plate":"zz"}}`,
	}
	rnd := rand.New(rand.NewPCG(13, 14))
	for range 200 {
		r := randomRead(rnd)
		inputs = append(inputs, string(AppendJSON(nil, &r)))
	}
	for _, in := range inputs {
		var want Read
		if err := Decode([]byte(in), &want); err != nil {
			t.Fatalf("Decode(%s): %v", in, err)
		}
		data := []byte(in)
		var got Read
		if err := Decode(data, &got); err != nil {
			t.Fatalf("Decode(%s): %v", in, err)
		}
		for i := range data {
			data[i] = 'X'
		}
		if got != want {
			t.Errorf("Decode(%s), then data overwritten:\n got %+v\nwant %+v", in, got, want)
		}
	}
}

// TestDecodeMatchesEncodingJSON decodes valid reads with encoding/json too
// and compares every field.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	inputs := []string{typicalJSON}
	inputs = append(inputs,
		with("image_ref", `"\ud83d\ude97 \u00e9 \"q\" \\ \/ \ud800"`),
		with("confidence", `1E-1`),
		with("lane", `-0`),
		with("ts", `"2026-11-22T07:00:00.5+02:00"`),
		`{"x":{"read_id":"nested"},"read_id":"a","camera_id":"b","ts":"2026-11-22T07:00:00Z","plate":"ab","lane":1,"lane":3}`,
	)
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		r := randomRead(rnd)
		inputs = append(inputs, string(AppendJSON(nil, &r)))
	}
	for _, in := range inputs {
		var got Read
		if err := Decode([]byte(in), &got); err != nil {
			t.Errorf("Decode(%s): %v", in, err)
			continue
		}
		compareWithEncodingJSON(t, []byte(in), &got)
	}
}

// compareWithEncodingJSON checks r, decoded from the valid record in, against
// what encoding/json finds in it (into a map: exact names, last duplicate wins).
func compareWithEncodingJSON(t *testing.T, in []byte, r *Read) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Errorf("encoding/json rejects %q, which Decode accepted: %v", in, err)
		return
	}
	str := func(name string) string {
		s, _ := m[name].(string)
		return s
	}
	num := func(name string) (json.Number, bool) {
		n, ok := m[name].(json.Number)
		return n, ok
	}
	if got, want := r.ReadID, str("read_id"); got != want {
		t.Errorf("%q: ReadID = %q, encoding/json %q", in, got, want)
	}
	if got, want := r.CameraID, str("camera_id"); got != want {
		t.Errorf("%q: CameraID = %q, encoding/json %q", in, got, want)
	}
	if want, err := time.Parse(time.RFC3339Nano, strings.ToUpper(str("ts"))); err != nil || !r.TS.Equal(want.Truncate(time.Millisecond)) {
		t.Errorf("%q: TS = %v, time.Parse %v, %v", in, r.TS, want, err)
	}
	if got, want := r.Plate, str("plate"); got != want {
		t.Errorf("%q: Plate = %q, encoding/json %q", in, got, want)
	}
	if got, want := r.Country, strings.ToUpper(str("country")); got != want {
		t.Errorf("%q: Country = %q, encoding/json %q", in, got, want)
	}
	if n, ok := num("confidence"); ok {
		if f, err := n.Float64(); err != nil || f != r.Confidence {
			t.Errorf("%q: Confidence = %v, encoding/json %v, %v", in, r.Confidence, f, err)
		}
	} else if r.Confidence != -1 {
		t.Errorf("%q: Confidence = %v, encoding/json has none", in, r.Confidence)
	}
	if n, ok := num("lane"); ok {
		if l, err := n.Int64(); err != nil || l != int64(r.Lane) {
			t.Errorf("%q: Lane = %v, encoding/json %v, %v", in, r.Lane, l, err)
		}
	} else if r.Lane != -1 {
		t.Errorf("%q: Lane = %v, encoding/json has none", in, r.Lane)
	}
	if got, want := r.VehicleClass, strings.ToLower(str("vehicle_class")); got != want && !(want == "" && got == ClassUnknown) {
		t.Errorf("%q: VehicleClass = %q, encoding/json %q", in, got, want)
	}
	if got, want := r.ImageRef, str("image_ref"); got != want {
		t.Errorf("%q: ImageRef = %q, encoding/json %q", in, got, want)
	}
}

// checkRules fails t unless r satisfies every SPEC §3 rule as Decode documents
// them. It is written independently of decode.go.
func checkRules(t *testing.T, r *Read) {
	t.Helper()
	printable := func(s string, max int) bool {
		n := utf8.RuneCountInString(s)
		return utf8.ValidString(s) && n >= 1 && n <= max && !strings.ContainsFunc(s, func(r rune) bool {
			return r < 0x20 || r >= 0x7f && r <= 0x9f
		})
	}
	if !printable(r.ReadID, 128) {
		t.Errorf("ReadID %q breaks 1..128 printable characters", r.ReadID)
	}
	if !printable(r.CameraID, 64) {
		t.Errorf("CameraID %q breaks 1..64 printable characters", r.CameraID)
	}
	if r.TS.Location() != time.UTC || r.TS.Nanosecond()%int(time.Millisecond) != 0 || r.TS.Year() < 0 || r.TS.Year() > 9999 {
		t.Errorf("TS %v is not UTC ms in years 0..9999", r.TS)
	}
	norm := strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z':
			return c - 'a' + 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			return c
		}
		return -1
	}, r.Plate)
	if r.PlateNorm != norm || len(norm) < 2 || len(norm) > 12 {
		t.Errorf("PlateNorm %q of plate %q, want %q of 2..12 characters", r.PlateNorm, r.Plate, norm)
	}
	if r.Country != "" && !(len(r.Country) == 2 && r.Country[0] >= 'A' && r.Country[0] <= 'Z' && r.Country[1] >= 'A' && r.Country[1] <= 'Z') {
		t.Errorf("Country %q", r.Country)
	}
	if r.Confidence != -1 && !(r.Confidence >= 0 && r.Confidence <= 1) || math.Signbit(r.Confidence) && r.Confidence == 0 {
		t.Errorf("Confidence %v", r.Confidence)
	}
	if r.Lane < -1 {
		t.Errorf("Lane %d", r.Lane)
	}
	switch r.VehicleClass {
	case ClassCar, ClassVan, ClassTruck, ClassBus, ClassMotorcycle, ClassUnknown:
	default:
		t.Errorf("VehicleClass %q", r.VehicleClass)
	}
	if !utf8.ValidString(r.ImageRef) || utf8.RuneCountInString(r.ImageRef) > 512 {
		t.Errorf("ImageRef %q", r.ImageRef)
	}
}

func TestDaysSinceEpoch(t *testing.T) {
	for _, span := range [][2]int{{0, 3}, {1599, 1601}, {1899, 1901}, {1968, 2101}, {9997, 9999}} {
		for d := time.Date(span[0], 1, 1, 0, 0, 0, 0, time.UTC); d.Year() <= span[1]; d = d.AddDate(0, 0, 1) {
			// d is a midnight: its Unix time divides exactly.
			if got, want := daysSinceEpoch(d.Year(), int(d.Month()), d.Day()), d.Unix()/86400; got != want {
				t.Fatalf("daysSinceEpoch(%s) = %d, want %d", d.Format(time.DateOnly), got, want)
			}
		}
	}
}

func TestDecodeSyntaxOffset(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{``, "offset 0: a read must be a JSON object"},
		{`  [`, "offset 2: a read must be a JSON object"},
		{`{"a":"x` + "\x01" + `"}`, "offset 7: control character in a string"},
		{`{"a":{"b":"x` + "\x01" + `"}}`, "offset 12: control character in a string"},
		{`{"a":"\q"}`, "offset 6: invalid escape in a string"},
		{`{"a":1 "b":2}`, "offset 7: expected ',' or '}' in an object"},
		{`{"a":[1 2]}`, "offset 8: expected ',' or ']' in an array"},
		{`{"a":01}`, "offset 6: expected ',' or '}' in an object"},
		{`{"a":-x}`, "offset 6: invalid number"},
		{`{"a":"é` + "\xff" + `"}`, "offset 6: string is not valid UTF-8"},
		{`{"a":"abc`, "offset 9: unterminated string"},
		{`{} x`, "offset 3: data after the end of the object"},
	}
	for _, tt := range tests {
		var r Read
		err := Decode([]byte(tt.in), &r)
		if reasonOf(err) != ReasonInvalidJSON || !strings.HasSuffix(err.Error(), tt.want) {
			t.Errorf("Decode(%q) = %v, want invalid_json ...%s", tt.in, err, tt.want)
		}
	}
}

// TestSpecial8 checks the eight-bytes-at-a-time scan against the byte table.
func TestSpecial8(t *testing.T) {
	rnd := rand.New(rand.NewPCG(9, 10))
	interesting := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, '"', 0x23, 0x5b, '\\', 0x5d, 0x7e, 0x7f, 0x80, 0x9f, 0xa0, 0xdf, 0xe0, 0xff}
	for range 200000 {
		var b [8]byte
		for i := range b {
			if rnd.IntN(3) == 0 {
				b[i] = interesting[rnd.IntN(len(interesting))]
			} else {
				b[i] = byte(0x20 + rnd.IntN(0x5f))
			}
		}
		want := 8
		for i, c := range b {
			if strSpecial[c] {
				want = i
				break
			}
		}
		if got := special8(load64(string(b[:]), 0)); got != want {
			t.Fatalf("special8(%q) = %d, want %d", b, got, want)
		}
	}
}

// TestKnownKey: the fast name lookup agrees with fieldIndex, and leaves
// anything else to the slow path.
func TestKnownKey(t *testing.T) {
	const tail = `":"0123456789abcdef"}`
	for want, name := range []string{"read_id", "camera_id", "ts", "plate", "country",
		"confidence", "lane", "vehicle_class", "image_ref"} {
		if got := fieldIndex(name); got != want {
			t.Errorf("fieldIndex(%q) = %d, want %d", name, got, want)
		}
		s := `"` + name + tail
		if got, end := knownKey(s, 1); got != want || end != 1+len(name) {
			t.Errorf("knownKey(%q) = %d, %d; want %d, %d", s, got, end, want, 1+len(name))
		}
		for _, other := range []string{name[:len(name)-1], name + "x", strings.ToUpper(name), name[:1] + `\u00` + name[1:]} {
			if got, _ := knownKey(`"`+other+tail, 1); got != -1 {
				t.Errorf("knownKey(%q) = %d, want -1", other, got)
			}
		}
		// Near the end of the input: no panic, no match without the quote.
		s = `"` + name + `":1}`
		for n := 1; n <= len(s); n++ {
			if got, end := knownKey(s[:n], 1); got != -1 && (got != want || end != 1+len(name)) || got != -1 && n <= 1+len(name) {
				t.Errorf("knownKey(%q) = %d, %d", s[:n], got, end)
			}
		}
	}
}

func TestParseFloat(t *testing.T) {
	rnd := rand.New(rand.NewPCG(11, 12))
	inputs := []string{"0", "1", "0.5", "0.93", "1.0", "0.1", "0.3", "0.123456789012345", "0.1234567890123456",
		"9007199254740991", "9007199254740992", "9007199254740993", "0.9007199254740993", "123456789012345.6",
		"1e-1", "-0", "-0.5", "5E-1", "1e400", "0.000000000000001", "1.7976931348623157e308"}
	for range 100000 {
		var b strings.Builder
		n := 1 + rnd.IntN(18)
		dot := rnd.IntN(n + 1)
		for i := range n {
			if i == dot && i > 0 {
				b.WriteByte('.')
			}
			b.WriteByte(byte('0' + rnd.IntN(10)))
		}
		s := b.String()
		if len(s) > 1 && s[0] == '0' && s[1] != '.' {
			s = "1" + s[1:] // no leading zeros in JSON
		}
		inputs = append(inputs, s)
	}
	for _, s := range inputs {
		got, err := parseFloat(s)
		want, wantErr := strconv.ParseFloat(s, 64)
		if got != want || (err == nil) != (wantErr == nil) || math.Signbit(got) != math.Signbit(want) {
			t.Fatalf("parseFloat(%q) = %v, %v; strconv %v, %v", s, got, err, want, wantErr)
		}
	}
}
