package sectioncontrol

import "github.com/anpr/anpr/plate"

// plateKey is a normalized plate (A-Z, 0-9, 1 to 12 characters) in base 37
// (0 pads the end): 37^12 < 2^64, so it is exact, and keys order as the
// plates do. An 8-byte map key hashes fast and costs no allocation.
type plateKey uint64

const keyLen = 12

func makeKey(norm string) (plateKey, bool) {
	if norm == "" || len(norm) > keyLen {
		return 0, false
	}
	// Two characters a step, by table: the multiplications chain, and a
	// switch per character costs branches.
	var k uint64
	i := len(norm) & 1
	if i == 1 {
		if k = uint64(keyDigits[norm[0]]); k == 0 {
			return 0, false
		}
	}
	for ; i < len(norm); i += 2 {
		a, b := keyDigits[norm[i]], keyDigits[norm[i+1]]
		if a == 0 || b == 0 {
			return 0, false
		}
		k = k*37*37 + uint64(a)*37 + uint64(b)
	}
	return plateKey(k * pow37[keyLen-len(norm)]), true // the padding zeros
}

// keyDigits maps a plate character to its base-37 digit; 0: not allowed.
var keyDigits = func() (d [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		d[c] = uint8(c-'0') + 1
	}
	for c := 'A'; c <= 'Z'; c++ {
		d[c] = uint8(c-'A') + 11
	}
	return d
}()

var pow37 = func() (p [keyLen + 1]uint64) {
	p[0] = 1
	for i := 1; i <= keyLen; i++ {
		p[i] = p[i-1] * 37
	}
	return p
}()

func (k plateKey) String() string {
	var b [keyLen]byte
	return string(k.appendTo(b[:0]))
}

// appendTo appends the plate k stands for to dst, two characters a
// division (each decision's plate is spelled out).
func (k plateKey) appendTo(dst []byte) []byte {
	var b [keyLen]byte
	n := 0 // the padding (digit 0, no character) is at the end only
	for i := keyLen - 2; i >= 0; i -= 2 {
		p := keyChars[k%(37*37)]
		k /= 37 * 37
		b[i], b[i+1] = p[0], p[1]
		if n == 0 {
			switch {
			case p[1] != 0:
				n = i + 2
			case p[0] != 0:
				n = i + 1
			}
		}
	}
	return append(dst, b[:n]...)
}

// keyChars spells two base-37 digits; 0 for the padding digit.
var keyChars = func() (t [37 * 37][2]byte) {
	char := func(d int) byte {
		switch {
		case d == 0:
			return 0
		case d <= 10:
			return '0' + byte(d-1)
		}
		return 'A' + byte(d-11)
	}
	for x := range t {
		t[x] = [2]byte{char(x / 37), char(x % 37)}
	}
	return t
}()

// ev is one read as a pending state keeps it, in 24 bytes: what decisions
// and the evidence of a violation need, nothing else (the engine has the
// rest in its store, by offset).
type ev struct {
	ms      int64  // capture time, Unix milliseconds
	off     int64  // Kafka offset of the read
	cam     uint16 // index into Tracker.camIDs
	info    uint8  // class (low 3 bits) and flags
	country [2]byte
	// pin is, for the current entry, how many replay segments before its
	// own the earliest-offset read of its entry cluster lies (see replay.go):
	// replaying from there rebuilds the same cluster. Little endian.
	pin [3]byte
}

const (
	classMask = 1<<3 - 1
	flagExit  = 1 << 3 // an exit read; else an entry read
	flagEntry = 1 << 4 // the decided entry awaiting its exit (always first)
	flagChunk = 1 << 5 // a table value standing for the plate's reads in the section's chunks: off the chunk, ms the count
	flagSpill = 1 << 7 // a table value standing for the plate's reads in the section's spills, off its index
	flagArmed = 1 << 6 // the current entry has its expiry item in the due queue
	// flagPair marks a table value holding two reads (packPair): those of
	// most vehicles, an entry and its exit, in the slot a lookup loads
	// anyway, where a chunk costs a cache miss more at the exit's insert and
	// at the pair's decision.
	flagPair = flagChunk | flagSpill
)

// Bits of a packed pair: a's capture time and offset keep the low bits of
// ms and off; b's info, ms and offset differences take the top 18 bits of
// ms, the top 16 of off and pin.
const (
	pairMsBits  = 26 // b.ms - a.ms, from 0: 18 h
	pairOffBits = 28 // b.off - a.off, signed
	pairOffLow  = 48 // a.off's bits
	msBits      = 46 // capture times are at most maxMs
)

// packPair packs the reads a and b (in evBefore order) into p, and reports
// whether they fit: b is neither the current entry nor pinned, a is not
// pinned, both cameras are among the first 256, one country, and a's offset
// and the differences are small enough. Others go to a chunk.
func packPair(a, b *ev, p *ev) bool {
	dms, doff := b.ms-a.ms, b.off-a.off
	if a.pin != [3]byte{} || b.pin != [3]byte{} || b.info&^(classMask|flagExit) != 0 || a.cam > 0xff || b.cam > 0xff ||
		a.country != b.country || uint64(a.off) >= 1<<pairOffLow || uint64(dms) >= 1<<pairMsBits ||
		doff < -1<<(pairOffBits-1) || doff >= 1<<(pairOffBits-1) {
		return false
	}
	x := uint64(b.info) | uint64(dms)<<4 | uint64(doff)&(1<<pairOffBits-1)<<(4+pairMsBits) // 58 bits
	*p = ev{
		ms:      a.ms | int64(x<<msBits),
		off:     a.off | int64(x>>(64-msBits)<<pairOffLow),
		cam:     a.cam | b.cam<<8,
		info:    a.info | flagPair,
		country: a.country,
		pin:     [3]byte{byte(x >> 34), byte(x >> 42), byte(x >> 50)},
	}
	return true
}

// unpair unpacks the reads packPair packed into v.
func (v *ev) unpair(dst *[2]ev) {
	x := uint64(v.ms)>>msBits | uint64(v.off)>>pairOffLow<<(64-msBits) |
		(uint64(v.pin[0])|uint64(v.pin[1])<<8|uint64(v.pin[2])<<16)<<34
	ms, off := v.ms&(1<<msBits-1), v.off&(1<<pairOffLow-1)
	dst[0] = ev{ms: ms, off: off, cam: v.cam & 0xff, info: v.info &^ flagPair, country: v.country}
	dst[1] = ev{
		ms:      ms + int64(x>>4&(1<<pairMsBits-1)),
		off:     off + int64(x<<(64-4-pairMsBits-pairOffBits))>>(64-pairOffBits),
		cam:     v.cam >> 8,
		info:    uint8(x & 0xf),
		country: v.country,
	}
}

func (e *ev) class() uint8 { return e.info & classMask }

func (e *ev) pinDelta() int64 { return int64(e.pin[0]) | int64(e.pin[1])<<8 | int64(e.pin[2])<<16 }

// pinSeg is the replay segment that counts e as live.
func (e *ev) pinSeg(shift uint8) int64 { return e.off>>shift - e.pinDelta() }

func (e *ev) setPin(seg int64, shift uint8) {
	d := min(max(e.off>>shift-seg, 0), 1<<24-1)
	e.pin = [3]byte{byte(d), byte(d >> 8), byte(d >> 16)}
}

const numClasses = 6

var classes = [numClasses]string{plate.ClassUnknown, plate.ClassCar, plate.ClassVan, plate.ClassTruck, plate.ClassBus, plate.ClassMotorcycle}

func classCode(c string) uint8 {
	for i, name := range classes {
		if c == name {
			return uint8(i)
		}
	}
	return 0
}

// read rebuilds what the Tracker knows of the read e (see Violation).
func (t *Tracker) read(e *ev, key plateKey) plate.Read {
	r := plate.Read{
		CameraID:     t.camIDs[e.cam],
		TS:           timeMs(e.ms),
		PlateNorm:    key.String(),
		VehicleClass: classes[e.class()],
		Confidence:   -1,
		Lane:         -1,
	}
	if e.country != [2]byte{} {
		r.Country = string(e.country[:])
	}
	return r
}
