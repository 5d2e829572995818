package audit

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// FuzzRoundTrip checks that any record Append could write parses back
// identical and verifies:
//
//	go test ./internal/audit -run '^$' -fuzz FuzzRoundTrip -fuzztime 10s
func FuzzRoundTrip(f *testing.F) {
	f.Add("inv-0042", "investigator", "/api/v1/passages?plate=1ABC123", "PV/1", 3, int64(0))
	f.Add("a\"b\\c", "\x00\x1f\x7f", "é\xff\n\t\r<>&\u2028", "", -1, int64(1<<40))
	f.Fuzz(func(t *testing.T, who, role, query, caseRef string, results int, ms int64) {
		r := Record{Who: who, Roles: []string{role}, Action: "passages.query", CaseRef: caseRef,
			Query: query, Results: results, Status: 200, Seq: 1, Prev: Genesis,
			Time: time.UnixMilli(ms % (1 << 45))}
		normalize(&r)
		line, h := appendLine(nil, &r)
		r.Hash = h
		got, err := parseLine(line[:len(line)-1])
		if err != nil {
			t.Fatalf("parseLine(%q) error = %v", line, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(r) {
			t.Fatalf("parseLine() = %+v, want %+v", got, r)
		}
		if n, err := Verify(bytes.NewReader(line)); n != 1 || err != nil {
			t.Fatalf("Verify() = %d, %v; want 1, nil", n, err)
		}
	})
}

// FuzzVerify feeds arbitrary trails to Verify, which must not panic and must
// never accept more records than the input has lines:
//
//	go test ./internal/audit -run '^$' -fuzz FuzzVerify -fuzztime 10s
func FuzzVerify(f *testing.F) {
	var trail []byte
	prev := Genesis
	for i := 1; i <= 3; i++ {
		r := query(i)
		r.Seq, r.Prev = uint64(i), prev
		normalize(&r)
		var line []byte
		line, prev = appendLine(nil, &r)
		trail = append(trail, line...)
	}
	f.Add(trail)
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, _ := Verify(bytes.NewReader(data))
		if lines := bytes.Count(data, []byte("\n")); n > lines {
			t.Fatalf("Verify() = %d records from %d lines", n, lines)
		}
	})
}
