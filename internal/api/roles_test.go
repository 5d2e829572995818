package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anpr/anpr/ingest"
	"github.com/anpr/anpr/internal/audit"
	"github.com/anpr/anpr/internal/auth"
	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/internal/store"
)

// wantRoles is README's table of who may call what. A route added to
// routes() without a line here fails TestRoleMatrix, and so does a line
// without its route: the table and the code cannot drift apart.
var wantRoles = map[string][]string{
	"GET /healthz":                                   nil, // open
	"GET /readyz":                                    nil,
	"GET /metrics":                                   nil,
	"POST /api/v1/reads":                             {auth.RoleGateway, auth.RoleAdmin},
	"GET /api/v1/hits":                               {auth.RoleDispatch, auth.RoleAdmin},
	"GET /api/v1/hits/stream":                        {auth.RoleDispatch, auth.RoleAdmin},
	"POST /api/v1/hits/{id}/ack":                     {auth.RoleDispatch, auth.RoleAdmin},
	"GET /api/v1/violations":                         {auth.RoleEnforcement, auth.RoleAdmin},
	"GET /api/v1/sections":                           {auth.RoleEnforcement, auth.RoleAdmin},
	"GET /api/v1/sections/{id}/stats":                {auth.RoleEnforcement, auth.RoleAdmin},
	"GET /api/v1/passages":                           {auth.RoleInvestigator},
	"GET /api/v1/plates/{plate}/trajectory":          {auth.RoleInvestigator},
	"GET /api/v1/plates/{plate}/cotravel":            {auth.RoleInvestigator},
	"GET /api/v1/hotlists":                           {auth.RoleAdmin},
	"GET /api/v1/hotlists/{list}/entries":            {auth.RoleAdmin},
	"POST /api/v1/hotlists/{list}/entries":           {auth.RoleAdmin},
	"DELETE /api/v1/hotlists/{list}/entries/{plate}": {auth.RoleAdmin},
	"POST /api/v1/hotlists/{list}/import":            {auth.RoleAdmin},
	"GET /api/v1/audit":                              {auth.RoleAuditor, auth.RoleAdmin},
}

// TestRoleMatrix calls every route with no token, a wrong token, and a
// token of each role, over real HTTP, and checks that exactly the roles of
// wantRoles get past access control.
func TestRoleMatrix(t *testing.T) {
	tokens := map[string]string{}
	var users []auth.User
	for _, role := range auth.Roles {
		tok, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		tokens[role] = tok
		users = append(users, auth.User{Name: "u-" + role, Roles: []string{role}, TokenSHA256: auth.HashToken(tok)})
	}
	a, err := auth.New(users, auth.Options{Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	trail, err := audit.Open(t.TempDir(), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer trail.Close()
	gw := ingest.NewGateway(kclient.Config{Brokers: []string{"127.0.0.1:1"}}, "anpr.reads", nil)
	defer gw.Close()
	s := New(Config{Store: st, Gateway: gw, Auth: a, Audit: trail, Ready: func() bool { return true }})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	seen := map[string]bool{}
	for _, rt := range s.routes() {
		key := rt.method + " " + rt.pattern
		seen[key] = true
		want, ok := wantRoles[key]
		if !ok {
			t.Errorf("route %s has no line in wantRoles (and README's role table)", key)
			continue
		}
		if !slices.Equal(rt.roles, want) {
			t.Errorf("route %s: roles %v, table says %v", key, rt.roles, want)
		}
		path := strings.NewReplacer("{id}", "S1", "{list}", "stolen", "{plate}", "1ABC234").Replace(rt.pattern)
		for _, caller := range append([]string{"none", "forged"}, auth.Roles...) {
			status := call(t, srv.URL, rt.method, path, tokens[caller], caller == "forged")
			allowed := want == nil || slices.Contains(want, caller)
			switch {
			case allowed && (status == http.StatusUnauthorized || status == http.StatusForbidden):
				t.Errorf("%s as %s: %d, want access", key, caller, status)
			case !allowed && (caller == "none" || caller == "forged") && status != http.StatusUnauthorized:
				t.Errorf("%s as %s: %d, want 401", key, caller, status)
			case !allowed && caller != "none" && caller != "forged" && status != http.StatusForbidden:
				t.Errorf("%s as %s: %d, want 403", key, caller, status)
			}
		}
	}
	for key := range wantRoles {
		if !seen[key] {
			t.Errorf("wantRoles has %s, which is no route", key)
		}
	}
}

// call returns the status of one request; a stream is closed once its
// headers have arrived.
func call(t *testing.T, base, method, path, token string, forged bool) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case forged:
		req.Header.Set("Authorization", "Bearer not-a-token-anyone-holds")
	case token != "":
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
