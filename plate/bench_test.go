package plate

import (
	"encoding/json"
	"testing"
)

// go test -run='^$' -bench='Decode|AppendJSON|Normalize|EncodingJSON' -benchtime=2s ./plate/

func BenchmarkDecode(b *testing.B) {
	for _, bm := range []struct{ name, in string }{
		{"read=typical", typicalJSON},
		{"read=normalized-plate", with("plate", `"1ABC234"`)},
		{"read=escapes", with("image_ref", `"s3:\/\/anpr\/2026\/11\/22\/\u00e9.jpg"`)},
		{"read=minimal", `{"read_id":"R1","camera_id":"C1","ts":"2026-11-22T07:00:00Z","plate":"1ABC234"}`},
	} {
		in := []byte(bm.in)
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			var r Read
			for b.Loop() {
				if err := Decode(in, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodingJSON is the reference: encoding/json decoding the typical
// read into a struct, without any validation.
func BenchmarkEncodingJSON(b *testing.B) {
	in := []byte(typicalJSON)
	var w struct {
		ReadID       string  `json:"read_id"`
		CameraID     string  `json:"camera_id"`
		TS           string  `json:"ts"`
		Plate        string  `json:"plate"`
		Country      string  `json:"country"`
		Confidence   float64 `json:"confidence"`
		Lane         int     `json:"lane"`
		VehicleClass string  `json:"vehicle_class"`
		ImageRef     string  `json:"image_ref"`
	}
	b.Run("read=typical", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if err := json.Unmarshal(in, &w); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	r := typicalRead()
	buf := make([]byte, 0, 512)
	b.Run("read=typical", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = AppendJSON(buf[:0], &r)
		}
		b.SetBytes(int64(len(buf)))
	})
}

var sinkString string

func BenchmarkNormalize(b *testing.B) {
	for _, bm := range []struct{ name, in string }{
		{"plate=dashed", "1-abc-234"},
		{"plate=normalized", "1ABC234"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkString, _ = Normalize(bm.in)
			}
		})
	}
}
