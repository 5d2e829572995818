// Package auth authenticates API callers by bearer token and enforces the
// investigator guard-rails of SPEC §7.
//
// Only the SHA-256 of each token is kept. A presented token is hashed and
// compared with every user's hash in constant time, so neither the outcome
// nor the position of the matching user shows in the timing. Authorize
// answers 401 when the token is missing or unknown and 403 when none of the
// caller's roles may call the route.
//
// Guard is the separate check an investigative handler makes before it
// queries: a case reference is required, a query reaching further back than
// Options.ApprovalAge also needs a prosecutor's approval reference, and each
// user has a token bucket of investigative requests. The limit lives in Guard
// rather than Authorize because it is a guard-rail against mass searching,
// not a throttle on gateways posting reads or dispatch following hits.
//
// Errors are *Error values carrying the HTTP status and code to answer with;
// this package does not import internal/api, which adapts them.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Roles (SPEC §7).
const (
	RoleGateway      = "gateway"
	RoleDispatch     = "dispatch"
	RoleCovert       = "covert"
	RoleEnforcement  = "enforcement"
	RoleInvestigator = "investigator"
	RoleAdmin        = "admin"
	RoleAuditor      = "auditor"
)

// Roles lists every role a user may hold. Do not modify it.
var Roles = []string{RoleGateway, RoleDispatch, RoleCovert, RoleEnforcement, RoleInvestigator, RoleAdmin, RoleAuditor}

// User is an API user as configured: only the SHA-256 of its token is kept.
type User struct {
	Name  string
	Roles []string
	// TokenSHA256 is the hex SHA-256 of the bearer token (HashToken), 64
	// hex digits in either case.
	TokenSHA256 string
}

// Principal is an authenticated caller.
type Principal struct {
	Name  string
	Roles []string
}

// HasRole reports whether p holds role.
func HasRole(p Principal, role string) bool { return slices.Contains(p.Roles, role) }

// Error is a refusal to answer with: an HTTP status, a machine-readable code
// and a message for the caller.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter is, on a 429, the whole seconds after which a request can
	// succeed: the Retry-After header.
	RetryAfter int
}

func (e *Error) Error() string { return e.Message }

// SetHeaders sets the headers that go with e: WWW-Authenticate on a 401
// (RFC 6750) and Retry-After on a 429.
func (e *Error) SetHeaders(h http.Header) {
	switch e.Status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="anpr"`)
	case http.StatusTooManyRequests:
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
}

// Options tunes an Authenticator. The zero value gives the defaults.
type Options struct {
	// ApprovalAge is how far back a query may reach with a case reference
	// alone; reaching further also needs X-Approval-Ref. Default 30 days
	// (720h), Belgian law's month of free search.
	ApprovalAge time.Duration
	// Rate is investigative requests per second per user, refilled
	// continuously. Default 5; negative means no limit.
	Rate float64
	// Burst is how many investigative requests a user may make at once
	// after a quiet spell. Default 20.
	Burst int
}

// Defaults.
const (
	DefaultApprovalAge = 30 * 24 * time.Hour
	DefaultRate        = 5
	DefaultBurst       = 20
)

// Validate reports every problem of o at once.
func (o Options) Validate() error {
	var errs []error
	if o.ApprovalAge < 0 {
		errs = append(errs, fmt.Errorf("approval age %v: must not be negative", o.ApprovalAge))
	}
	if math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) {
		errs = append(errs, fmt.Errorf("rate %v: must be a finite number", o.Rate))
	}
	if o.Burst < 0 {
		errs = append(errs, fmt.Errorf("burst %d: must not be negative", o.Burst))
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.ApprovalAge == 0 {
		o.ApprovalAge = DefaultApprovalAge
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Burst == 0 {
		o.Burst = DefaultBurst
	}
	return o
}

// Authenticator checks bearer tokens, roles and the investigator
// guard-rails. It is safe for concurrent use; its users are fixed at New.
type Authenticator struct {
	opts    Options
	users   []User
	hashes  [][sha256.Size]byte // hashes[i] is users[i]'s token hash
	buckets map[string]*bucket  // per user name, fixed at New: memory is bounded
	other   *bucket             // shared by names not configured (an anonymous caller)
}

// New validates users and opts, reporting every problem at once (empty or
// duplicate name, no role, unknown role, token hash not 64 hex digits,
// token shared with another user), and returns an Authenticator.
func New(users []User, opts Options) (*Authenticator, error) {
	var errs []error
	if err := opts.Validate(); err != nil {
		errs = append(errs, err)
	}
	a := &Authenticator{
		opts:    opts.withDefaults(),
		users:   make([]User, len(users)),
		hashes:  make([][sha256.Size]byte, len(users)),
		buckets: make(map[string]*bucket, len(users)),
	}
	names := map[string]int{}
	tokens := map[[sha256.Size]byte]int{}
	for i, u := range users {
		where := fmt.Sprintf("user %d %q", i, u.Name)
		if u.Name == "" {
			errs = append(errs, fmt.Errorf("%s: empty name", where))
		} else if j, dup := names[u.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: duplicate name (also user %d)", where, j))
		} else {
			names[u.Name] = i
		}
		if len(u.Roles) == 0 {
			errs = append(errs, fmt.Errorf("%s: no role", where))
		}
		for _, r := range u.Roles {
			if !slices.Contains(Roles, r) {
				errs = append(errs, fmt.Errorf("%s: unknown role %q (want one of %s)", where, r, strings.Join(Roles, ", ")))
			}
		}
		b, err := hex.DecodeString(u.TokenSHA256)
		if err != nil || len(b) != sha256.Size {
			errs = append(errs, fmt.Errorf("%s: token hash must be 64 hex digits (the SHA-256 of the token)", where))
		} else {
			h := [sha256.Size]byte(b)
			if j, dup := tokens[h]; dup {
				errs = append(errs, fmt.Errorf("%s: same token hash as user %d", where, j))
			}
			tokens[h] = i
			a.hashes[i] = h
		}
		a.users[i] = User{Name: u.Name, Roles: slices.Clone(u.Roles)}
		a.buckets[u.Name] = &bucket{}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	a.other = &bucket{}
	return a, nil
}

// Authorize returns the caller of r if its bearer token belongs to a user
// holding one of roles. Otherwise it returns an *Error: 401 unauthorized
// when the token is missing or unknown, 403 forbidden when no role of the
// user is in roles. It is safe for concurrent use.
func (a *Authenticator) Authorize(r *http.Request, roles []string) (Principal, error) {
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return Principal{}, &Error{Status: http.StatusUnauthorized, Code: "unauthorized",
			Message: `missing bearer token: send the header "Authorization: Bearer <token>"`}
	}
	i := a.lookup(token)
	if i < 0 {
		return Principal{}, &Error{Status: http.StatusUnauthorized, Code: "unauthorized",
			Message: `invalid bearer token: send the header "Authorization: Bearer <token>" with a token issued to you`}
	}
	u := a.users[i]
	p := Principal{Name: u.Name, Roles: slices.Clone(u.Roles)}
	for _, role := range roles {
		if HasRole(p, role) {
			return p, nil
		}
	}
	return Principal{}, &Error{Status: http.StatusForbidden, Code: "forbidden",
		Message: fmt.Sprintf("forbidden: this endpoint needs one of the roles %s", strings.Join(roles, ", "))}
}

// bearer extracts the token of an "Authorization: Bearer <token>" header;
// the scheme is case-insensitive (RFC 7235).
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// lookup returns the index of the user whose token hash is SHA-256(token),
// or -1. Every user's hash is compared, whatever matched, so the time taken
// depends only on the number of users.
func (a *Authenticator) lookup(token string) int {
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range a.hashes {
		eq := subtle.ConstantTimeCompare(sum[:], a.hashes[i][:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	return found
}

// HashToken returns the hex SHA-256 of token, as stored in the
// configuration.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewToken returns a fresh random token: 32 bytes from crypto/rand,
// base64url without padding (43 characters).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
