package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anpr/anpr/internal/audit"
	"github.com/anpr/anpr/internal/auth"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/plate"
)

// TestCovertAndAck: covert hits reach only callers with the covert role, in
// listings and on the stream; an acknowledgement is stored with its hit,
// shown in listings and audited.
func TestCovertAndAck(t *testing.T) {
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ts := time.Now().UTC().Truncate(time.Millisecond)
	r := plate.Read{ReadID: "r1", CameraID: "C1", TS: ts, Plate: "1ABC234", PlateNorm: "1ABC234", Confidence: -1, Lane: -1}
	open := store.Event{ID: "h_open", ReadID: "r1", TS: ts, JSON: []byte(`{"hit_id":"h_open","list":"stolen","covert":false}`)}
	covert := store.Event{ID: "h_covert", ReadID: "r1", TS: ts, JSON: []byte(`{"hit_id":"h_covert","list":"watch","entry":{"covert":true},"covert":true}`)}
	if _, err := st.Write(&store.Batch{Reads: []plate.Read{r}, Hits: []store.Event{open, covert}}); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	var users []auth.User
	for _, u := range []struct{ name, role string }{{"ops", auth.RoleDispatch}, {"ops-covert", auth.RoleCovert}} {
		tok, _ := auth.NewToken()
		tokens[u.name] = tok
		roles := []string{auth.RoleDispatch}
		if u.role == auth.RoleCovert {
			roles = append(roles, auth.RoleCovert)
		}
		users = append(users, auth.User{Name: u.name, Roles: roles, TokenSHA256: auth.HashToken(tok)})
	}
	a, err := auth.New(users, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	trail, err := audit.Open(t.TempDir(), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer trail.Close()
	srv := httptest.NewServer(New(Config{Store: st, Auth: a, Audit: trail}).Handler())
	defer srv.Close()
	do := func(method, path, user, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokens[user])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	hitIDs := func(user string) []string {
		var page struct {
			Hits []struct {
				ID  string          `json:"hit_id"`
				Ack json.RawMessage `json:"ack"`
			} `json:"hits"`
		}
		_, body := do("GET", "/api/v1/hits", user, "")
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		var ids []string
		for _, h := range page.Hits {
			ids = append(ids, h.ID+string(h.Ack))
		}
		return ids
	}
	if got := strings.Join(hitIDs("ops"), " "); got != "h_open" {
		t.Errorf("hits without the covert role: %s, want h_open only", got)
	}
	if got := strings.Join(hitIDs("ops-covert"), " "); got != "h_open h_covert" {
		t.Errorf("hits with the covert role: %s, want both", got)
	}
	// The stream: the first event a plain dispatcher gets is h_open, and
	// nothing else is pending for it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/hits/stream", nil)
	req.Header.Set("Authorization", "Bearer "+tokens["ops"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var data []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && len(data) < 1 {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
		}
	}
	resp.Body.Close()
	if len(data) != 1 || strings.Contains(data[0], "h_covert") {
		t.Errorf("stream without the covert role: %v", data)
	}

	for _, tt := range []struct {
		user, id, body string
		want           int
	}{
		{"ops", "h_open", `{"outcome":"maybe"}`, http.StatusBadRequest},
		{"ops", "h_open", `not json`, http.StatusBadRequest},
		{"ops", "h_nope", `{"outcome":"confirmed"}`, http.StatusNotFound},
		{"ops", "h_covert", `{"outcome":"confirmed"}`, http.StatusNotFound},
		{"ops", "h_open", `{"outcome":"false_read","note":"reads 1ABC284"}`, http.StatusOK},
		{"ops-covert", "h_covert", `{"outcome":"confirmed"}`, http.StatusOK},
	} {
		if code, body := do("POST", "/api/v1/hits/"+tt.id+"/ack", tt.user, tt.body); code != tt.want {
			t.Errorf("ack %s as %s with %s: %d %s, want %d", tt.id, tt.user, tt.body, code, body, tt.want)
		}
	}
	got := hitIDs("ops")
	if len(got) != 1 || !strings.Contains(got[0], `"outcome":"false_read"`) || !strings.Contains(got[0], `"by":"ops"`) {
		t.Errorf("listing after ack: %v, want h_open with its ack", got)
	}
	recs, err := trail.Read(0, 10)
	if err != nil || len(recs) != 2 || recs[0].Action != "hit.ack" || recs[0].Who != "ops" {
		t.Errorf("audit after two acks: %+v, %v", recs, err)
	}
}
