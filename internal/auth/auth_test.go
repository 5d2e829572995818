package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHashToken(t *testing.T) {
	// SHA-256("test"), the example in SPEC §7.
	if got, want := HashToken("test"), "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"; got != want {
		t.Errorf("HashToken(test) = %s, want %s", got, want)
	}
}

func TestNewToken(t *testing.T) {
	a, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(a)
	if err != nil || len(raw) != 32 {
		t.Errorf("NewToken() = %q: decodes to %d bytes, %v; want 32 bytes of base64url", a, len(raw), err)
	}
	if a == b {
		t.Errorf("two NewToken() calls gave the same token %q", a)
	}
}

func TestNewValidation(t *testing.T) {
	h1, h2 := HashToken("one"), HashToken("two")
	tests := []struct {
		name  string
		users []User
		opts  Options
		want  []string // substrings of the error; none means valid
	}{
		{"valid", []User{{"a", []string{RoleInvestigator}, h1}, {"b", []string{RoleAdmin, RoleAuditor}, strings.ToUpper(h2)}}, Options{}, nil},
		{"no users", nil, Options{}, nil},
		{"unknown role", []User{{"a", []string{"investigatr"}, h1}}, Options{}, []string{`user 0 "a": unknown role "investigatr"`}},
		{"no role", []User{{"a", nil, h1}}, Options{}, []string{`user 0 "a": no role`}},
		{"empty name", []User{{"", []string{RoleAdmin}, h1}}, Options{}, []string{`user 0 "": empty name`}},
		{"duplicate name", []User{{"a", []string{RoleAdmin}, h1}, {"a", []string{RoleAdmin}, h2}}, Options{}, []string{`user 1 "a": duplicate name (also user 0)`}},
		{"duplicate token", []User{{"a", []string{RoleAdmin}, h1}, {"b", []string{RoleAdmin}, h1}}, Options{}, []string{`user 1 "b": same token hash as user 0`}},
		{"bad hex", []User{{"a", []string{RoleAdmin}, "zz" + h1[2:]}}, Options{}, []string{`user 0 "a": token hash must be 64 hex digits`}},
		{"short hash", []User{{"a", []string{RoleAdmin}, h1[:62]}}, Options{}, []string{`user 0 "a": token hash must be 64 hex digits`}},
		{"bad options", nil, Options{ApprovalAge: -time.Hour, Burst: -1}, []string{"approval age -1h0m0s", "burst -1"}},
		{"every problem", []User{{"a", []string{"x", "y"}, "nothex"}, {"a", nil, h1}}, Options{}, []string{
			`user 0 "a": unknown role "x"`, `user 0 "a": unknown role "y"`, `user 0 "a": token hash must be`,
			`user 1 "a": duplicate name`, `user 1 "a": no role`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.users, tt.opts)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("New() error = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New() error = nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New() error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

// fixture is an Authenticator with one user per role, named after the role,
// and the tokens to call as each.
type fixture struct {
	a      *Authenticator
	tokens map[string]string // user name → token
}

func newFixture(t *testing.T, opts Options, extra ...string) fixture {
	t.Helper()
	f := fixture{tokens: map[string]string{}}
	var users []User
	add := func(name string, roles ...string) {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[name] = tok
		users = append(users, User{Name: name, Roles: roles, TokenSHA256: HashToken(tok)})
	}
	for _, r := range Roles {
		add(r, r)
	}
	add("ops-lead", RoleDispatch, RoleAdmin)
	for _, name := range extra {
		add(name, RoleInvestigator)
	}
	a, err := New(users, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.a = a
	return f
}

func TestAuthorize(t *testing.T) {
	f := newFixture(t, Options{})
	dispatchRoute := []string{RoleDispatch, RoleAdmin}
	tests := []struct {
		name       string
		header     string // Authorization
		roles      []string
		wantStatus int // 0: allowed
		wantName   string
	}{
		{"dispatch allowed", "Bearer " + f.tokens[RoleDispatch], dispatchRoute, 0, RoleDispatch},
		{"admin allowed", "Bearer " + f.tokens[RoleAdmin], dispatchRoute, 0, RoleAdmin},
		{"second role allowed", "Bearer " + f.tokens["ops-lead"], []string{RoleAdmin}, 0, "ops-lead"},
		{"scheme case-insensitive", "bearer " + f.tokens[RoleDispatch], dispatchRoute, 0, RoleDispatch},
		{"wrong role", "Bearer " + f.tokens[RoleInvestigator], dispatchRoute, http.StatusForbidden, ""},
		{"covert is not dispatch", "Bearer " + f.tokens[RoleCovert], dispatchRoute, http.StatusForbidden, ""},
		{"no roles open", "Bearer " + f.tokens[RoleAdmin], []string{}, http.StatusForbidden, ""},
		{"missing", "", dispatchRoute, http.StatusUnauthorized, ""},
		{"empty token", "Bearer ", dispatchRoute, http.StatusUnauthorized, ""},
		{"basic scheme", "Basic " + f.tokens[RoleDispatch], dispatchRoute, http.StatusUnauthorized, ""},
		{"bare token", f.tokens[RoleDispatch], dispatchRoute, http.StatusUnauthorized, ""},
		{"unknown token", "Bearer not-a-token", dispatchRoute, http.StatusUnauthorized, ""},
		{"stored hash as token", "Bearer " + HashToken(f.tokens[RoleDispatch]), dispatchRoute, http.StatusUnauthorized, ""},
		{"token with a byte changed", "Bearer " + f.tokens[RoleDispatch][:42] + "!", dispatchRoute, http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/v1/hits", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			p, err := f.a.Authorize(r, tt.roles)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Authorize() error = %v, want nil", err)
				}
				if p.Name != tt.wantName {
					t.Errorf("Authorize() name = %q, want %q", p.Name, tt.wantName)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Authorize() error = %v, want *Error %d", err, tt.wantStatus)
			}
			wantCode := map[int]string{401: "unauthorized", 403: "forbidden"}[tt.wantStatus]
			if e.Status != tt.wantStatus || e.Code != wantCode {
				t.Errorf("Authorize() = %d %s, want %d %s", e.Status, e.Code, tt.wantStatus, wantCode)
			}
		})
	}
}

// TestAuthorizeEveryPosition checks the constant-time lookup functionally:
// it scans every user without stopping at a match, so each token must
// resolve to its own user wherever it sits in the list.
func TestAuthorizeEveryPosition(t *testing.T) {
	var extra []string
	for i := range 50 {
		extra = append(extra, fmt.Sprintf("inv-%04d", i))
	}
	f := newFixture(t, Options{}, extra...)
	for name, tok := range f.tokens {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		p, err := f.a.Authorize(r, Roles)
		if err != nil || p.Name != name {
			t.Errorf("Authorize(token of %s) = %q, %v; want %q", name, p.Name, err, name)
		}
	}
}

func TestPrincipalRolesNotShared(t *testing.T) {
	f := newFixture(t, Options{})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+f.tokens["ops-lead"])
	p, err := f.a.Authorize(r, []string{RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	p.Roles[0] = RoleAuditor
	p, _ = f.a.Authorize(r, []string{RoleAdmin})
	if !HasRole(p, RoleDispatch) || HasRole(p, RoleAuditor) {
		t.Errorf("roles after a caller modified its copy = %v, want [dispatch admin]", p.Roles)
	}
}

func TestGuard(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	month := 30 * 24 * time.Hour
	f := newFixture(t, Options{Rate: -1})
	p := Principal{Name: RoleInvestigator, Roles: []string{RoleInvestigator}}
	tests := []struct {
		name       string
		caseRef    string
		approval   string
		reach      time.Time
		wantStatus int // 0: allowed
		wantCode   string
	}{
		{"recent", "PV/2026/004217", "", now.Add(-time.Hour), 0, ""},
		{"exactly 30 days", "PV/2026/004217", "", now.Add(-month), 0, ""},
		{"30 days and 1ms", "PV/2026/004217", "", now.Add(-month - time.Millisecond), 403, "approval_required"},
		{"30 days and 1ms approved", "PV/2026/004217", "BXL.LA.12.345/26", now.Add(-month - time.Millisecond), 0, ""},
		{"unbounded", "PV/2026/004217", "", time.Time{}, 403, "approval_required"},
		{"unbounded approved", "PV/2026/004217", "OK-1", time.Time{}, 0, ""},
		{"future reach", "PV/2026/004217", "", now.Add(time.Hour), 0, ""},
		{"no case", "", "", now, 400, "case_ref_required"},
		{"no case but approved", "", "OK-1", now.Add(-2 * month), 400, "case_ref_required"},
		{"case 64 bytes", strings.Repeat("x", 64), "", now, 0, ""},
		{"case 65 bytes", strings.Repeat("x", 65), "", now, 400, "case_ref_required"},
		{"case non-ASCII", "PV/2026/é", "", now, 400, "case_ref_required"},
		{"case with tab", "PV\t1", "", now, 400, "case_ref_required"},
		{"case with inner space", "PV 2026 1", "", now, 0, ""},
		{"approval 65 bytes", "PV-1", strings.Repeat("a", 65), now, 400, "approval_ref_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/v1/passages?plate=1ABC123", nil)
			if tt.caseRef != "" {
				r.Header.Set(HeaderCaseRef, tt.caseRef)
			}
			if tt.approval != "" {
				r.Header.Set(HeaderApprovalRef, tt.approval)
			}
			c, err := f.a.Guard(p, r, tt.reach, now)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Guard() error = %v, want nil", err)
				}
				if want := (Case{Ref: tt.caseRef, Approval: tt.approval}); c != want {
					t.Errorf("Guard() = %+v, want %+v", c, want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != tt.wantStatus || e.Code != tt.wantCode {
				t.Errorf("Guard() error = %#v, want %d %s", err, tt.wantStatus, tt.wantCode)
			}
		})
	}
}

func TestGuardApprovalAgeOption(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, Options{ApprovalAge: 7 * 24 * time.Hour, Rate: -1})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set(HeaderCaseRef, "PV-1")
	p := Principal{Name: RoleInvestigator}
	if _, err := f.a.Guard(p, r, now.Add(-7*24*time.Hour), now); err != nil {
		t.Errorf("Guard(reach 7 days) error = %v, want nil", err)
	}
	if _, err := f.a.Guard(p, r, now.Add(-8*24*time.Hour), now); err == nil {
		t.Errorf("Guard(reach 8 days) error = nil, want approval_required")
	}
}

func TestGuardRateLimit(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, Options{Rate: 0.5, Burst: 3}, "inv-2")
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set(HeaderCaseRef, "PV-1")
	inv := Principal{Name: RoleInvestigator}
	steps := []struct {
		who            string
		at             time.Duration // after t0
		wantRetryAfter int           // 0: allowed
	}{
		{RoleInvestigator, 0, 0},
		{RoleInvestigator, 0, 0},
		{RoleInvestigator, 0, 0},
		{RoleInvestigator, 0, 2}, // bucket empty: one token every 2 s
		{"inv-2", 0, 0},          // another user has their own bucket
		{RoleInvestigator, 1500 * time.Millisecond, 1},
		{RoleInvestigator, 2 * time.Second, 0},
		{RoleInvestigator, 2 * time.Second, 2},
		{RoleInvestigator, time.Second, 2}, // a clock going back refills nothing
		{"anonymous", 0, 0},                // names not configured share one bucket
		{"someone-else", 0, 0},
		{"anonymous", 0, 0},
		{"someone-else", 0, 2},
		{RoleInvestigator, time.Hour, 0},
		{RoleInvestigator, time.Hour, 0},
		{RoleInvestigator, time.Hour, 0},
		{RoleInvestigator, time.Hour, 2}, // refill stops at Burst
	}
	for i, s := range steps {
		inv.Name = s.who
		_, err := f.a.Guard(inv, r, t0, t0.Add(s.at))
		if s.wantRetryAfter == 0 {
			if err != nil {
				t.Errorf("step %d (%s at %v): error = %v, want nil", i, s.who, s.at, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != 429 || e.Code != "rate_limited" || e.RetryAfter != s.wantRetryAfter {
			t.Errorf("step %d (%s at %v): error = %#v, want 429 rate_limited retry after %d", i, s.who, s.at, err, s.wantRetryAfter)
		}
	}
}

func TestGuardRateLimitConcurrent(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, Options{Rate: 1, Burst: 25})
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				r := httptest.NewRequest("GET", "/", nil)
				r.Header.Set(HeaderCaseRef, "PV-1")
				if _, err := f.a.Guard(Principal{Name: RoleInvestigator}, r, now, now); err == nil {
					ok.Add(1)
				} else {
					limited.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load() != 25 || limited.Load() != 55 {
		t.Errorf("80 concurrent requests at one instant with burst 25: %d allowed, %d limited; want 25, 55", ok.Load(), limited.Load())
	}
}

// TestHTTP sends real requests through net/http to a handler that does what
// internal/api does: Authorize, then Guard on an investigative route, and
// answers an *Error with its headers.
func TestHTTP(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, Options{Rate: 1, Burst: 4}, "inv-limited")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := f.a.Authorize(r, []string{RoleInvestigator})
		if err == nil {
			var from time.Time
			if s := r.URL.Query().Get("from"); s != "" {
				from, _ = time.Parse(time.RFC3339, s)
			}
			_, err = f.a.Guard(p, r, from, now)
		}
		var e *Error
		if errors.As(err, &e) {
			e.SetHeaders(w.Header())
			w.WriteHeader(e.Status)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": e.Message, "code": e.Code})
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	inv, limited := f.tokens[RoleInvestigator], f.tokens["inv-limited"]
	recent, old := "2026-11-20T00:00:00Z", "2026-01-01T00:00:00Z"
	tests := []struct {
		name                 string
		token, caseRef, from string
		approval             string
		wantStatus           int
		wantCode, wantHeader string
		wantHeaderValue      string
	}{
		{"no token", "", "PV-1", recent, "", 401, "unauthorized", "WWW-Authenticate", `Bearer realm="anpr"`},
		{"bad token", "nope", "PV-1", recent, "", 401, "unauthorized", "WWW-Authenticate", `Bearer realm="anpr"`},
		{"wrong role", f.tokens[RoleDispatch], "PV-1", recent, "", 403, "forbidden", "", ""},
		{"no case", inv, "", recent, "", 400, "case_ref_required", "", ""},
		{"old without approval", inv, "PV-1", old, "", 403, "approval_required", "", ""},
		{"old with approval", inv, "PV-1", old, "PR-77", 200, "", "", ""},
		{"recent", inv, "PV-1", recent, "", 200, "", "", ""},
		{"limited 1", limited, "PV-1", recent, "", 200, "", "", ""},
		{"limited 2", limited, "PV-1", recent, "", 200, "", "", ""},
		{"limited 3", limited, "PV-1", recent, "", 200, "", "", ""},
		{"limited 4", limited, "PV-1", recent, "", 200, "", "", ""},
		{"limited 5", limited, "PV-1", recent, "", 429, "rate_limited", "Retry-After", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", srv.URL+"/api/v1/passages?plate=1ABC123&from="+tt.from, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			if tt.caseRef != "" {
				req.Header.Set(HeaderCaseRef, tt.caseRef)
			}
			if tt.approval != "" {
				req.Header.Set(HeaderApprovalRef, tt.approval)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Code string }
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tt.wantStatus || body.Code != tt.wantCode {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body.Code, tt.wantStatus, tt.wantCode)
			}
			if tt.wantHeader != "" {
				if got := resp.Header.Get(tt.wantHeader); got != tt.wantHeaderValue {
					t.Errorf("%s = %q, want %q", tt.wantHeader, got, tt.wantHeaderValue)
				}
			}
		})
	}
}
