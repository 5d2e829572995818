package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/anpr/anpr/hotlist"
	"github.com/anpr/anpr/ingest"
	"github.com/anpr/anpr/internal/audit"
	"github.com/anpr/anpr/internal/auth"
	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/matcher"
	"github.com/anpr/anpr/plate"
)

// storeWithHits opens a store in a temporary directory holding n hits
// (each pad bytes of JSON padding), their reads and one violation.
func storeWithHits(tb testing.TB, n, pad int) *store.Store {
	tb.Helper()
	st, err := store.Open(store.Options{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	ts := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Hour)
	filler := strings.Repeat("x", pad)
	for done := 0; done < n; {
		var b store.Batch
		for ; done < n && len(b.Reads) < 500; done++ {
			id := fmt.Sprintf("r%d", done)
			r := plate.Read{ReadID: id, CameraID: "C1", TS: ts.Add(time.Duration(done) * time.Millisecond), Plate: "1ABC234", PlateNorm: "1ABC234", Confidence: -1, Lane: -1}
			b.Reads = append(b.Reads, r)
			b.Hits = append(b.Hits, store.Event{ID: "h" + id, ReadID: id, TS: r.TS,
				JSON: fmt.Appendf(nil, `{"hit_id":"h%s","list":"stolen","pad":%q}`, id, filler)})
		}
		if done == n {
			b.Violations = []store.Event{{ID: "v1", ReadID: "r0", TS: ts, JSON: []byte(`{"violation_id":"v1","section_id":"S1"}`)}}
		}
		if _, err := st.Write(&b); err != nil {
			tb.Fatal(err)
		}
	}
	return st
}

// FuzzQuery sends arbitrary query strings and cursor headers to the read
// endpoints through the real handler (authentication, guard-rails, audit
// trail, store): every answer must be a JSON object (or the stream), with
// a status the endpoint documents, and no handler may panic.
func FuzzQuery(f *testing.F) {
	st := storeWithHits(f, 30, 0)
	first, _, err := st.Events(store.Hits, "", 1)
	if err != nil || len(first) != 1 {
		f.Fatal(err)
	}
	passages, _, err := st.Passages(store.PassageQuery{Plate: "1ABC234", Limit: 1})
	if err != nil || len(passages) != 1 {
		f.Fatal(err)
	}
	trail, err := audit.Open(f.TempDir(), audit.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { trail.Close() })
	tok, _ := auth.NewToken()
	a, err := auth.New([]auth.User{{Name: "fuzz", Roles: auth.Roles, TokenSHA256: auth.HashToken(tok)}}, auth.Options{Rate: -1})
	if err != nil {
		f.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s := New(Config{Store: st, Auth: a, Audit: trail, Registerer: reg})
	h := s.Handler()
	paths := []string{"/api/v1/hits", "/api/v1/hits/stream", "/api/v1/violations", "/api/v1/passages", "/api/v1/audit", "/api/v1/sections/S1/stats"}
	now := time.Now().UTC()
	for _, seed := range []struct {
		path            uint8
		query, cr, appr string
	}{
		{0, "limit=2&after=" + first[0].Cursor, "", ""},
		{0, "limit=-1", "", ""},
		{0, "after=%ff%00", "", ""},
		{1, "after=" + first[0].Cursor, "", ""},
		{1, "after=AAAAAAAAAAAAAAAAAAAAAA", "", ""},
		{2, "section=S1&limit=1000000000000000000000", "", ""},
		{3, "plate=1-ABC-234&from=" + now.Add(-24*time.Hour).Format(time.RFC3339) + "&to=" + now.Format(time.RFC3339Nano), "PV/1", ""},
		{3, "plate=1ABC*&from=2026-13-45T99:00:00Z", "PV/1", "A/1"},
		{3, "plate=1ABC234&after=" + first[0].Cursor + "&limit=1", "PV/1", "A/1"},
		{3, "plate=%E2%80%AE1ABC234&from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59.999999999Z", strings.Repeat("x", 100), "\x00"},
		{4, "after=18446744073709551616&limit=3", "", ""},
		{5, "", "", ""},
	} {
		f.Add(seed.path, seed.query, seed.cr, seed.appr)
	}
	f.Fuzz(func(t *testing.T, path uint8, query, caseRef, approval string) {
		target := paths[int(path)%len(paths)]
		u := target + "?" + query
		ctx, cancel := context.WithCancel(context.Background())
		if strings.HasSuffix(target, "/stream") {
			cancel() // the stream answers its backlog, then sees the client gone
		}
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://anpr"+u, nil)
		if err != nil {
			return // not a request a client can send
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Last-Event-ID", query)
		req.Header.Set(auth.HeaderCaseRef, caseRef)
		req.Header.Set(auth.HeaderApprovalRef, approval)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if n := testutil.ToFloat64(s.m.panics); n > 0 {
			t.Fatalf("GET %q: a handler panicked", u)
		}
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusNotImplemented:
		default:
			t.Fatalf("GET %q: status %d: %s", u, rec.Code, rec.Body.Bytes())
		}
		if rec.Header().Get("Content-Type") == "text/event-stream" {
			return
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("GET %q: %d with a body that is not a JSON object: %q", u, rec.Code, rec.Body.Bytes())
		}
	})
}

// TestPanicAnswers500: a handler that panics is answered with a JSON 500,
// counted, and the server goes on.
func TestPanicAnswers500(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := New(Config{Registerer: reg})
	h := s.wrap(route{method: "GET", pattern: "/boom", handler: func(_ http.ResponseWriter, r *http.Request) {
		_ = r.URL.Path[len(r.URL.Path)+1:] // out of range: a programmer's error reachable from a request
	}})
	for i := 1; i <= 2; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
		var body struct{ Error, Code string }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusInternalServerError || body.Code != "internal" {
			t.Fatalf("panic answered %d %q, want a JSON 500 with code internal", rec.Code, rec.Body.Bytes())
		}
		if got := testutil.ToFloat64(s.m.panics); got != float64(i) {
			t.Errorf("after %d panics the counter says %v", i, got)
		}
	}
}

// TestBodyCap: every POST with a body over the cap is answered 413 (JSON)
// without the body being taken; the CSV import over its own cap too.
func TestBodyCap(t *testing.T) {
	const limit = 4 << 10
	st := storeWithHits(t, 1, 0)
	gw := ingest.NewGateway(kclient.Config{Brokers: []string{"127.0.0.1:1"}}, "anpr.reads", nil)
	defer gw.Close()
	m, err := matcher.New([]matcher.List{{Name: "stolen", Mode: matcher.Exact}}, matcher.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := hotlist.NewPublisher(hotlist.Config{Kafka: kclient.Config{Brokers: []string{"127.0.0.1:1"}}, Lists: []string{"stolen"}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	hl := struct {
		*matcher.Matcher
		*hotlist.Publisher
	}{m, pub}
	s := New(Config{Store: st, Gateway: gw, Hotlists: hl, MaxBody: limit, MaxImportBody: 2 * limit})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	var posts int
	for _, rt := range s.routes() {
		if rt.method != "POST" {
			continue
		}
		posts++
		big := bytes.Repeat([]byte(" "), limit+1)
		if rt.pattern == importPattern {
			big = append([]byte("list,plate\n"), bytes.Repeat([]byte("stolen,1ABC234\n"), 2*limit/15+1)...)
		}
		path := strings.NewReplacer("{id}", "hr0", "{list}", "stolen").Replace(rt.pattern)
		resp, err := http.Post(srv.URL+path, "application/json", bytes.NewReader(big))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(body, []byte(`"too_large"`)) {
			t.Errorf("POST %s with %d bytes: %d %s, want 413 too_large", rt.pattern, len(big), resp.StatusCode, body)
		}
	}
	if posts < 4 {
		t.Fatalf("%d POST routes checked", posts)
	}
}

// TestStreamSlowClient: a live-stream client that stops reading (a real
// TCP connection whose reader sleeps) is cut off once a write has waited
// StreamWriteTimeout, while another stream client gets every hit, old and
// new, meanwhile.
func TestStreamSlowClient(t *testing.T) {
	const hits, pad = 3000, 5000 // 15 MB of events: more than both sockets buffer
	st := storeWithHits(t, hits, pad)
	reg := prometheus.NewRegistry()
	s := New(Config{Listen: "127.0.0.1:0", Store: st, StreamWriteTimeout: time.Second, Registerer: reg})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()

	// The stuck client: asks for the stream and never reads.
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/v1/hits/stream HTTP/1.1\r\nHost: anpr\r\n\r\n")

	// The healthy client reads every hit, then one stored meanwhile.
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.Addr()+"/api/v1/hits/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 64<<10)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				events <- id
			}
		}
	}()
	waitEvents := func(n int) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for range n {
			select {
			case _, ok := <-events:
				if !ok {
					t.Fatal("the healthy stream ended")
				}
			case <-deadline:
				t.Fatalf("the healthy stream stalled")
			}
		}
	}
	waitEvents(hits)
	ts := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := st.Write(&store.Batch{Reads: []plate.Read{{ReadID: "late", CameraID: "C1", TS: ts, Plate: "1ABC234", PlateNorm: "1ABC234", Confidence: -1, Lane: -1}},
		Hits: []store.Event{{ID: "hlate", ReadID: "late", TS: ts, JSON: []byte(`{"hit_id":"hlate"}`)}}}); err != nil {
		t.Fatal(err)
	}
	waitEvents(1)

	// The stuck client is cut off: the server closes its end, so what the
	// sockets held drains and then the connection ends, short of it all.
	deadline := time.Now().Add(30 * time.Second)
	for testutil.ToFloat64(s.m.streams) > 1 {
		if time.Now().After(deadline) {
			t.Fatal("the stuck stream is still open")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.Copy(io.Discard, conn)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the stuck client's connection did not end: %v", err)
	}
	if got >= int64(hits*pad) {
		t.Errorf("the stuck client got %d bytes, the whole stream", got)
	}
	t.Logf("stuck client cut off after %d of about %d bytes", got, hits*pad)
}
