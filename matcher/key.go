package matcher

import "github.com/anpr/anpr/plate"

// A key is a string of 0..12 characters A-Z 0-9: a normalized plate, its
// OCR canonical form, or a deletion variant of one. It is coded as a
// number in base 37 (digit 0 unused, so that lengths differ), which fits
// 64 bits because 37^12 < 2^64, and the index is keyed by mix(code). Both
// steps are bijections: two keys have the same hash only when they are
// equal, so a hash that matches needs no string comparison, and the
// normalized plate of an exact entry is recovered from its hash instead of
// being stored.

// keyBase is the base of key codes.
const keyBase = 37

// keyDigit maps 0-9 to 1..10 and A-Z to 11..36; anything else is 0, not a
// key character.
var keyDigit = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = uint8(c-'0') + 1
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = uint8(c-'A') + 11
	}
	return t
}()

const keyChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// keyCode returns the code of s, or false when s is longer than
// plate.MaxLen or has a character outside A-Z 0-9.
func keyCode[S string | []byte](s S) (uint64, bool) {
	if len(s) > plate.MaxLen {
		return 0, false
	}
	var c uint64
	for i := 0; i < len(s); i++ {
		d := keyDigit[s[i]]
		if d == 0 {
			return 0, false
		}
		c = c*keyBase + uint64(d)
	}
	return c, true
}

// appendKey appends the key of code c to dst.
func appendKey(dst []byte, c uint64) []byte {
	var buf [plate.MaxLen]byte
	i := len(buf)
	for ; c > 0; c /= keyBase {
		i--
		buf[i] = keyChars[c%keyBase-1]
	}
	return append(dst, buf[i:]...)
}

// Multipliers of mix (murmur3's fmix64) and their inverses modulo 2^64.
const (
	mixC1 = 0xff51afd7ed558ccd
	mixC2 = 0xc4ceb9fe1a85ec53
)

var mixInv1, mixInv2 = inverse(mixC1), inverse(mixC2)

// inverse returns the multiplicative inverse of odd x modulo 2^64 (Newton's
// iteration doubles the correct bits each step, from 3).
func inverse(x uint64) uint64 {
	y := x
	for range 5 {
		y *= 2 - x*y
	}
	return y
}

// mix scrambles a key code into a hash whose every bit depends on every
// bit of the code; it is a bijection (xor-shifts by ≥ 32 bits and odd
// multipliers are invertible), undone by unmix.
func mix(c uint64) uint64 {
	c ^= c >> 33
	c *= mixC1
	c ^= c >> 33
	c *= mixC2
	c ^= c >> 33
	return c
}

func unmix(h uint64) uint64 {
	h ^= h >> 33
	h *= mixInv2
	h ^= h >> 33
	h *= mixInv1
	h ^= h >> 33
	return h
}
