package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// clock returns a clock that starts at t0 and advances 1 ms per call.
func clock() func() time.Time {
	var n atomic.Int64
	return func() time.Time { return t0.Add(time.Duration(n.Add(1)-1) * time.Millisecond) }
}

func query(i int) Record {
	return Record{
		Who: "inv-0042", Roles: []string{"investigator"}, Action: "passages.query",
		CaseRef: "PV/2026/004217", Query: fmt.Sprintf("/api/v1/passages?plate=1ABC%03d&limit=%d", i, i*i),
		Results: i, Status: 200,
	}
}

func openLog(t *testing.T, dir string) *Log {
	t.Helper()
	l, err := Open(dir, Options{Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func appendN(t testing.TB, l *Log, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := l.Append(query(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func verifyFile(t *testing.T, dir string) (int, error) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	return Verify(bytes.NewReader(b))
}

func TestCanonicalForm(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	got, err := l.Append(Record{
		Who: "inv-0042", Roles: []string{"investigator", "covert"}, Action: "passages.query",
		CaseRef: `PV "7"`, ApprovalRef: `a\b`,
		Query: "/p?plate=1ÄBC<1>&x=\n\t\x01\xff", Results: 3, Status: 200,
	})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"seq":1,"time":"2026-11-23T12:00:00.000Z","who":"inv-0042","roles":["investigator","covert"],` +
		`"action":"passages.query","case_ref":"PV \"7\"","approval_ref":"a\\b",` +
		`"query":"/p?plate=1ÄBC<1>&x=\n\t\u0001` + "\uFFFD" + `","results":3,"status":200,"prev":"` + Genesis + `"`
	sum := sha256.Sum256([]byte(body + "}"))
	wantHash := hex.EncodeToString(sum[:])
	want := body + `,"hash":"` + wantHash + "\"}\n"
	file, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if string(file) != want {
		t.Errorf("file =\n%s\nwant\n%s", file, want)
	}
	if got.Hash != wantHash || got.Seq != 1 || got.Prev != Genesis || !got.Time.Equal(t0) {
		t.Errorf("Append() = seq %d time %v prev %s hash %s, want 1 %v %s %s", got.Seq, got.Time, got.Prev, got.Hash, t0, Genesis, wantHash)
	}
	if got.Query != "/p?plate=1ÄBC<1>&x=\n\t\x01\uFFFD" {
		t.Errorf("Append() query = %q, want invalid UTF-8 replaced", got.Query)
	}
	// What Read gives back is what Append returned.
	recs, err := l.Read(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || fmt.Sprint(recs[0]) != fmt.Sprint(got) {
		t.Errorf("Read() = %+v, want [%+v]", recs, got)
	}
}

func TestQueryCut(t *testing.T) {
	l := openLog(t, t.TempDir())
	long := strings.Repeat("é", MaxQuery) // 2 bytes each
	got, err := l.Append(Record{Who: "a", Query: long})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Query) > MaxQuery || !strings.HasSuffix(got.Query, "…") || !utf8.ValidString(got.Query) {
		t.Errorf("query of %d bytes stored as %d bytes ending %q, want ≤ %d valid UTF-8 ending with …",
			len(long), len(got.Query), got.Query[len(got.Query)-6:], MaxQuery)
	}
}

func TestReopenContinuesChain(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	appendN(t, l, 1, 3)
	seq, hash := l.Last()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir)
	if s, h := l.Last(); s != seq || h != hash {
		t.Errorf("after reopen Last() = %d %s, want %d %s", s, h, seq, hash)
	}
	r, err := l.Append(query(4))
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != 4 || r.Prev != hash {
		t.Errorf("first Append after reopen = seq %d prev %s, want 4 %s", r.Seq, r.Prev, hash)
	}
	if n, err := verifyFile(t, dir); n != 4 || err != nil {
		t.Errorf("Verify() = %d, %v; want 4, nil", n, err)
	}
}

func TestOpenEmptyDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	l := openLog(t, dir)
	if s, h := l.Last(); s != 0 || h != Genesis {
		t.Errorf("Last() of a new log = %d %s, want 0 %s", s, h, Genesis)
	}
	recs, err := l.Read(0, 10)
	if err != nil || len(recs) != 0 {
		t.Errorf("Read() of a new log = %v, %v; want none", recs, err)
	}
}

func TestOpenTornTail(t *testing.T) {
	tests := []struct {
		name     string
		complete int    // records before the torn bytes
		torn     string // bytes left by the crash; "" means the next record without its newline
	}{
		{"torn after records", 3, `{"seq":4,"time":"2026-11-23T12:00:00.0`},
		{"whole record without newline", 3, ""},
		{"torn first record", 0, `{"seq":1,"ti`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir)
			appendN(t, l, 1, tt.complete+1)
			l.Close()
			path := filepath.Join(dir, FileName)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Keep the complete records, then add the torn bytes.
			lines := bytes.SplitAfter(b, []byte("\n"))
			keep := bytes.Join(lines[:tt.complete], nil)
			torn := tt.torn
			if torn == "" {
				torn = strings.TrimSuffix(string(lines[tt.complete]), "\n")
			}
			if err := os.WriteFile(path, append(keep, torn...), 0o600); err != nil {
				t.Fatal(err)
			}

			var logs bytes.Buffer
			l, err = Open(dir, Options{Now: clock(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatalf("Open() error = %v", err)
			}
			defer l.Close()
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), fmt.Sprintf("torn_bytes=%d", len(torn))) {
				t.Errorf("log = %q, want a warning with torn_bytes=%d", logs.String(), len(torn))
			}
			saved, err := os.ReadFile(path + ".torn")
			if err != nil || string(saved) != torn+"\n" {
				t.Errorf("torn file = %q, %v; want %q", saved, err, torn+"\n")
			}
			if s, _ := l.Last(); s != uint64(tt.complete) {
				t.Errorf("Last() seq = %d, want %d", s, tt.complete)
			}
			r, err := l.Append(query(9))
			if err != nil || r.Seq != uint64(tt.complete+1) {
				t.Errorf("Append() = seq %d, %v; want %d", r.Seq, err, tt.complete+1)
			}
			if n, err := verifyFile(t, dir); n != tt.complete+1 || err != nil {
				t.Errorf("Verify() = %d, %v; want %d, nil", n, err, tt.complete+1)
			}
		})
	}
}

func TestOpenDamagedLastRecord(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	appendN(t, l, 1, 3)
	l.Close()
	path := filepath.Join(dir, FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`"results":3,`), []byte(`"results":0,`), 1)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "last record (seq 3)") {
		if l != nil {
			l.Close()
		}
		t.Errorf("Open() of a log whose last record was changed: error = %v, want last record (seq 3)…", err)
	}
}

func TestRead(t *testing.T) {
	l := openLog(t, t.TempDir())
	appendN(t, l, 1, 250) // queries of varying length exercise the search
	tests := []struct {
		after     uint64
		limit     int
		wantFirst uint64
		wantN     int
	}{
		{0, 10, 1, 10},
		{0, 0, 1, DefaultReadLimit},
		{0, -1, 1, DefaultReadLimit},
		{0, 5000, 1, 250},
		{1, 1, 2, 1},
		{99, 3, 100, 3},
		{100, 0, 101, 100},
		{245, 100, 246, 5},
		{249, 10, 250, 1},
		{250, 10, 0, 0},
		{1000, 10, 0, 0},
	}
	for _, tt := range tests {
		recs, err := l.Read(tt.after, tt.limit)
		if err != nil {
			t.Fatalf("Read(%d, %d) error = %v", tt.after, tt.limit, err)
		}
		if len(recs) != tt.wantN {
			t.Errorf("Read(%d, %d) returned %d records, want %d", tt.after, tt.limit, len(recs), tt.wantN)
			continue
		}
		for i, r := range recs {
			if want := tt.wantFirst + uint64(i); r.Seq != want || r.Results != int(want) {
				t.Errorf("Read(%d, %d)[%d] = seq %d results %d, want %d", tt.after, tt.limit, i, r.Seq, r.Results, want)
				break
			}
		}
	}
}

func TestConcurrentAppend(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				if _, err := l.Append(query(g*100 + i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// Readers alongside the writers see only complete records.
	wg.Go(func() {
		for range 20 {
			recs, err := l.Read(0, MaxReadLimit)
			if err != nil {
				t.Error(err)
				return
			}
			for i, r := range recs {
				if r.Seq != uint64(i+1) {
					t.Errorf("concurrent Read()[%d] seq = %d, want %d", i, r.Seq, i+1)
					return
				}
			}
		}
	})
	wg.Wait()
	if n, err := verifyFile(t, dir); n != 200 || err != nil {
		t.Errorf("Verify() after concurrent appends = %d, %v; want 200, nil", n, err)
	}
}

func TestExport(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	appendN(t, l, 1, 20)
	var buf bytes.Buffer
	if err := l.Export(&buf); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), file) {
		t.Errorf("Export() differs from the file")
	}
	if n, err := Verify(&buf); n != 20 || err != nil {
		t.Errorf("Verify(export) = %d, %v; want 20, nil", n, err)
	}
}

func TestClosed(t *testing.T) {
	l := openLog(t, t.TempDir())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if _, err := l.Append(query(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append() after Close = %v, want ErrClosed", err)
	}
	if _, err := l.Read(0, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Read() after Close = %v, want ErrClosed", err)
	}
}
