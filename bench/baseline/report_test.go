package main

import (
	"strings"
	"testing"
	"time"
)

func TestReport(t *testing.T) {
	got := Report(Result{Reads: 1000, ReadsPerS: 2000, CPUSPerMillion: 300, BytesPerPassage: 190},
		Result{Reads: 10000, ReadsPerS: 40000, CPUSPerMillion: 40, BytesPerPassage: 180},
		Result{Reads: 10000, ReadsPerS: 100000, CPUSPerMillion: 16, BytesPerPassage: 60})
	for _, want := range []string{
		"| naive: SISMEMBER + INSERT per read | 1000 | 2000 | 300.0 | 190 | 50.0× | 18.8× |",
		"| tuned: pipelined SMISMEMBER + COPY per batch | 10000 | 40000 | 40.0 | 180 | 2.5× | 2.5× |",
		"| anpr (bench e2e) | 10000 | 100000 | 16.0 | 60 | 1.0× | 1.0× |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}

func TestParseStat(t *testing.T) {
	// A command name with a space and a parenthesis, as postgres titles are.
	line := "4242 (postgres: x) y) S 4100 4242 4242 0 -1 4194560 1 0 0 0 250 75 0 0 20 0 1 0 1 1 1\n"
	st, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != 4100 || st.cpu != 3250*time.Millisecond {
		t.Errorf("parseStat: ppid %d cpu %v, want 4100 3.25s", st.ppid, st.cpu)
	}
	if _, err := parseStat("4242 (x S 1"); err == nil {
		t.Error("parseStat of a truncated line: no error")
	}
}

func TestDecode(t *testing.T) {
	r, norm, ok := decode([]byte(`{"read_id":"C/1","camera_id":"C","ts":"2026-11-22T07:00:00.123Z","plate":"1-abc-234","lane":2}`))
	if !ok || norm != "1ABC234" || r.ReadID != "C/1" || r.Lane == nil || *r.Lane != 2 || r.Confidence != nil {
		t.Errorf("decode: %+v %q %v", r, norm, ok)
	}
	if _, _, ok := decode([]byte(`{"read_id":"C/1","plate":"-"}`)); ok {
		t.Error("decode of a plate that does not normalize: ok")
	}
	if _, _, ok := decode([]byte(`not json`)); ok {
		t.Error("decode of non-JSON: ok")
	}
}
