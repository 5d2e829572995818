package auth

import (
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"
)

// Headers an investigative request carries.
const (
	HeaderCaseRef     = "X-Case-Ref"
	HeaderApprovalRef = "X-Approval-Ref"
)

// MaxRefLen is the longest case or approval reference accepted.
const MaxRefLen = 64

// Case is the legal ground of an investigative query, for the audit trail.
type Case struct {
	// Ref is the case reference (X-Case-Ref).
	Ref string
	// Approval is the prosecutor's approval reference (X-Approval-Ref);
	// empty when the query did not need one and none was sent.
	Approval string
}

// Guard applies the investigator guard-rails to a request of p that can
// return data as old as reach (the zero time means unbounded), at now. In
// order it returns:
//   - 429 rate_limited when p has used up its investigative requests (the
//     token bucket of Options.Rate and Burst, per user name, clocked by now);
//   - 400 case_ref_required when X-Case-Ref is missing or malformed;
//   - 400 approval_ref_invalid when X-Approval-Ref is sent but malformed;
//   - 403 approval_required when reach is before now-ApprovalAge and no
//     X-Approval-Ref is sent. A query reaching back exactly ApprovalAge
//     needs none.
//
// A reference is 1 to 64 bytes of printable ASCII (0x20-0x7E), neither
// starting nor ending with a space: "PV/2026/004217" or "BXL.LA.12.345/26".
// The rules hold for every caller whatever its roles. Guard is safe for
// concurrent use.
func (a *Authenticator) Guard(p Principal, r *http.Request, reach time.Time, now time.Time) (Case, error) {
	if a.opts.Rate > 0 {
		b := a.buckets[p.Name]
		if b == nil {
			b = a.other
		}
		if wait, ok := b.take(now, a.opts.Rate, a.opts.Burst); !ok {
			secs := max(1, int(math.Ceil(wait.Seconds())))
			return Case{}, &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", RetryAfter: secs,
				Message: fmt.Sprintf("too many investigative requests: at most %g per second; retry after %d s", a.opts.Rate, secs)}
		}
	}
	c := Case{Ref: r.Header.Get(HeaderCaseRef), Approval: r.Header.Get(HeaderApprovalRef)}
	if !validRef(c.Ref) {
		return Case{}, &Error{Status: http.StatusBadRequest, Code: "case_ref_required",
			Message: fmt.Sprintf("header %s required: the case reference, 1 to %d printable ASCII characters", HeaderCaseRef, MaxRefLen)}
	}
	if c.Approval != "" && !validRef(c.Approval) {
		return Case{}, &Error{Status: http.StatusBadRequest, Code: "approval_ref_invalid",
			Message: fmt.Sprintf("header %s malformed: want 1 to %d printable ASCII characters", HeaderApprovalRef, MaxRefLen)}
	}
	if c.Approval == "" && reach.Before(now.Add(-a.opts.ApprovalAge)) {
		return Case{}, &Error{Status: http.StatusForbidden, Code: "approval_required",
			Message: fmt.Sprintf("query reaches data older than %s: header %s with the prosecutor's approval reference required",
				a.opts.ApprovalAge, HeaderApprovalRef)}
	}
	return c, nil
}

func validRef(s string) bool {
	if len(s) == 0 || len(s) > MaxRefLen || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// bucket is a token bucket; the zero value is full at its first take.
type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time // zero before the first take
}

// take spends one token at now if there is one; otherwise it returns how
// long until there is. A now before the last one (callers racing with their
// clocks) refills nothing.
func (b *bucket) take(now time.Time, rate float64, burst int) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.last.IsZero():
		b.tokens, b.last = float64(burst), now
	case now.After(b.last):
		b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / rate * float64(time.Second)), false
}
