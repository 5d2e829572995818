package store

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/anpr/anpr/plate"
)

// TestCameraDict: passages of gateway read ids name their camera by code;
// the codes survive a restart, and cameras new after it get the next ones.
func TestCameraDict(t *testing.T) {
	dir := t.TempDir()
	at := now().Add(-time.Hour)
	reads := func(cams ...string) []plate.Read {
		var rs []plate.Read
		for i, c := range cams {
			r := read("1ABC234", at.Add(time.Duration(len(c)*10+i)*time.Second), i)
			r.CameraID = c
			r.ReadID = fmt.Sprintf("%s/%s/%d", c, r.TS.Format("20060102T150405.000Z"), i)
			rs = append(rs, r)
		}
		return rs
	}
	first := reads("CAM-A", "CAM-B", "CAM-A", "CAM-C")
	s := open(t, Options{Dir: dir})
	write(t, s, &Batch{Reads: first})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir})
	if got := s.dict.ids; !reflect.DeepEqual(got, []string{"CAM-A", "CAM-B", "CAM-C"}) {
		t.Fatalf("dictionary after a restart: %q", got)
	}
	later := reads("CAM-B", "CAM-DDDD")
	write(t, s, &Batch{Reads: later})
	if c, ok := s.dict.code("CAM-DDDD"); !ok || c != 3 {
		t.Errorf("new camera after a restart: code %d, %t; want 3", c, ok)
	}
	want := append(first, later...)
	order(want)
	got, _, err := s.Passages(PassageQuery{Plate: "1ABC234", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	order(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plate history:\ngot  %+v\nwant %+v", got, want)
	}
}
