package plate

// Plate length bounds after normalizing (SPEC §3).
const (
	MinLen = 2
	MaxLen = 12
)

// Normalize returns s upper-cased with everything but A-Z and 0-9 removed,
// and whether the result has MinLen..MaxLen characters. It allocates only
// when s is not already normalized.
func Normalize(s string) (string, bool) {
	var buf [MaxLen]byte
	n, clean := normalizeInto(&buf, s)
	if n < MinLen || n > MaxLen {
		return "", false
	}
	if clean {
		return s, true
	}
	return string(buf[:n]), true
}

// AppendNormalized appends the normalized form of s to dst without checking
// its length.
func AppendNormalized(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := normByte[s[i]]; c != 0 {
			dst = append(dst, c)
		}
	}
	return dst
}

// normalizeInto writes the normalized form of s to buf as far as it fits and
// returns its length, and whether s is normalized already: one pass, no
// allocation.
func normalizeInto(buf *[MaxLen]byte, s string) (n int, clean bool) {
	var diff byte // bits that normalizing changes
	for i := 0; i < len(s); i++ {
		c := normByte[s[i]]
		diff |= c ^ s[i]
		if n < len(buf) {
			buf[n] = c // if dropped (0), overwritten by the next one kept
		}
		if c != 0 {
			n++
		}
	}
	return n, diff == 0 && n == len(s) // n < len(s) when a NUL was dropped
}

// normByte maps a byte to its normalized form: A-Z and 0-9 to themselves,
// a-z to upper case, anything else to 0 (dropped).
var normByte = func() (t [256]byte) {
	for c := range t {
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			t[c] = byte(c)
		case c >= 'a' && c <= 'z':
			t[c] = byte(c - 'a' + 'A')
		}
	}
	return t
}()
