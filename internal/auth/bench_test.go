package auth

import (
	"fmt"
	"net/http/httptest"
	"testing"
)

// Authorize compares the token hash with every user's, so its cost grows
// with the number of users:
//
//	go test ./internal/auth -run '^$' -bench . -benchtime 1s
func BenchmarkAuthorize(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			users := make([]User, n)
			var last string
			for i := range users {
				tok, err := NewToken()
				if err != nil {
					b.Fatal(err)
				}
				users[i] = User{Name: fmt.Sprintf("inv-%04d", i), Roles: []string{RoleInvestigator}, TokenSHA256: HashToken(tok)}
				last = tok
			}
			a, err := New(users, Options{})
			if err != nil {
				b.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/api/v1/passages", nil)
			r.Header.Set("Authorization", "Bearer "+last)
			roles := []string{RoleInvestigator}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Authorize(r, roles); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
