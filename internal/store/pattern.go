package store

import (
	"errors"
	"fmt"
	"strings"
)

// ErrPattern wraps every reason a plate pattern is refused.
var ErrPattern = errors.New("bad pattern")

// MaxPatternLen bounds a pattern after normalizing.
const MaxPatternLen = 24

// Pattern is a compiled plate pattern: '?' is one character, '*' any run
// of characters (none included); other characters are normalized like a
// plate (upper case; anything but A-Z and 0-9 dropped).
type Pattern struct {
	p   string // normalized, runs of '*' folded into one
	tri string // canonical trigram of its longest fixed run, for the index
}

// CompilePattern normalizes p and checks that the index can serve it: it
// needs a run of at least three fixed characters.
func CompilePattern(p string) (Pattern, error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '?':
		case c == '*':
			if s := b.String(); len(s) > 0 && s[len(s)-1] == '*' {
				continue
			}
		default:
			continue
		}
		b.WriteByte(c)
	}
	s := b.String()
	if s == "" {
		return Pattern{}, fmt.Errorf("%w: no letter, digit, ? or * in it", ErrPattern)
	}
	if len(s) > MaxPatternLen {
		return Pattern{}, fmt.Errorf("%w: longer than %d characters", ErrPattern, MaxPatternLen)
	}
	best := ""
	for _, run := range strings.FieldsFunc(s, func(r rune) bool { return r == '?' || r == '*' }) {
		if len(run) > len(best) {
			best = run
		}
	}
	if len(best) < trigramLen {
		return Pattern{}, fmt.Errorf("%w: %q has no run of 3 fixed characters; the search would read every plate, so give at least three characters in a row (like 1AB?23*)", ErrPattern, s)
	}
	mid := (len(best) - trigramLen) / 2
	return Pattern{p: s, tri: ocr.Canonical(best[mid : mid+trigramLen])}, nil
}

// String is the normalized pattern.
func (p Pattern) String() string { return p.p }

// Match reports whether the normalized plate norm matches p, exactly or,
// with ocrAware, after mapping OCR-confusable characters to their class.
func (p Pattern) Match(norm string, ocrAware bool) bool {
	eq := func(a, b byte) bool { return a == b }
	if ocrAware {
		eq = func(a, b byte) bool { return ocr.Same(string(a), string(b)) }
	}
	// Glob matching with one backtrack point: the last '*' seen.
	pi, ni, star, mark := 0, 0, -1, 0
	for ni < len(norm) {
		switch {
		case pi < len(p.p) && (p.p[pi] == '?' || p.p[pi] != '*' && eq(p.p[pi], norm[ni])):
			pi++
			ni++
		case pi < len(p.p) && p.p[pi] == '*':
			star, mark = pi, ni
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p.p) && p.p[pi] == '*' {
		pi++
	}
	return pi == len(p.p)
}
