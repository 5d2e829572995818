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
	clean := true
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			n++
		case c >= 'a' && c <= 'z':
			n++
			clean = false
		default:
			clean = false
		}
	}
	if n < MinLen || n > MaxLen {
		return "", false
	}
	if clean {
		return s, true
	}
	var buf [MaxLen]byte
	return string(appendNorm(buf[:0], s)), true
}

// AppendNormalized appends the normalized form of s to dst without checking
// its length.
func AppendNormalized(dst []byte, s string) []byte { return appendNorm(dst, s) }

func appendNorm(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			dst = append(dst, c)
		case c >= 'a' && c <= 'z':
			dst = append(dst, c-'a'+'A')
		}
	}
	return dst
}
