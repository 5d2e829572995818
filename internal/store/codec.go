package store

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"time"

	"github.com/anpr/anpr/plate"
)

// Key prefixes; the layout is described in doc.go.
const (
	prefixPassage = 'P'
	prefixSeq     = 'S'
	prefixState   = 'K'
	// prefixAnnotation log id → annotation of that event (a hit's ack).
	prefixAnnotation = 'N'
	// prefixFormat → the on-disk format version (formatVersion).
	prefixFormat = 'F'
)

// formatVersion is the version of the key and value encodings. 1 (never
// written) is the layout before the passage value stored the read id and
// image ref in derived pieces; 2 had a camera and trigram key per posting;
// 3 wrote them in blocks with the read id hash in every camera posting; 4
// replaced it there by the read id's sequence number when the read id has
// the gateway form; 5 did the same in the passage key (the read part,
// appendReadPart), whose value then holds neither camera nor read id; 6
// compressed each index block itself (sealBlock); 7, the current one,
// stores camera blocks by columns, merged per camera-hour (camblock.go),
// and names a gateway read's camera by its code (dict.go). A store of
// another version is refused at Open (ErrFormat) rather than read wrong.
const formatVersion = 7

// Sizes of the fixed parts of keys.
const (
	tsLen     = 8     // capture time, unix ms, sign bit flipped, big-endian
	idHashLen = 8     // SHA-256(read id)[:8]
	seqKeyLen = 1 + 8 // log + sequence
	// maxPKeyLn is a passage key's length with a hashed read part, or a
	// gateway read part of up to 8 bytes: a capacity hint.
	maxPKeyLn = 1 + plate.MaxLen + 1 + tsLen + 1 + idHashLen
)

// appendTS appends t as unix milliseconds with the sign bit flipped, so that
// the big-endian bytes sort in time order for any t.
func appendTS(dst []byte, t time.Time) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(t.UnixMilli())^(1<<63))
}

func decodeTS(b []byte) time.Time {
	return time.UnixMilli(int64(binary.BigEndian.Uint64(b) ^ (1 << 63))).UTC()
}

// appendPlatePrefix appends 'P' + plate + 0x00: every key of one plate's
// passages starts with it. Normalized plates hold only A-Z and 0-9, so 0x00
// ends the plate unambiguously.
func appendPlatePrefix(dst []byte, norm string) []byte {
	dst = append(dst, prefixPassage)
	dst = append(dst, norm...)
	return append(dst, 0)
}

// appendPassageKey appends the key of r, whose gatewaySeq is seq: plate
// prefix, capture time and the read part. The key is the read's identity
// (camera, read id, plate, capture time): the same read written again has
// the same key and overwrites itself. Camera and read id are hashed (when
// seq is 0) from dst's spare room, which keeps the call free of
// allocations once dst has the capacity.
func appendPassageKey(dst []byte, r *plate.Read, seq, code uint64) []byte {
	var sum [sha256.Size]byte
	if seq == 0 {
		n := len(dst)
		sum = sha256.Sum256(append(appendString(dst, r.CameraID), r.ReadID...)[n:])
	}
	dst = appendPlatePrefix(dst, r.PlateNorm)
	dst = appendTS(dst, r.TS)
	return appendReadPart(dst, seq, code, sum[:idHashLen])
}

// appendReadPart appends the part of a passage key after the capture time
// that names the read. For a read id of the gateway form camera/time/n
// (gatewaySeq: seq = n+1), a byte k, seq in k big-endian bytes (the fewest)
// and the uvarint of the camera's code (cameraDict), from which decoding
// builds the read id again: no random bytes, which zstd cannot shrink. Else 0x00 and h, the first 8
// bytes of SHA-256 of the camera id (uvarint length and bytes) and the
// read id: two reads of one plate in the same millisecond are distinct
// unless their h collide (odds 2^-64 per such pair), and SHA-256 (about
// 0.2 µs) rather than a fast hash so that a crafted read id cannot be made
// to collide with another's. The bytes order the reads like
// camPos.compareRead.
func appendReadPart(dst []byte, seq, code uint64, h []byte) []byte {
	if seq == 0 {
		return append(append(dst, 0), h...)
	}
	k := (bits.Len64(seq) + 7) / 8
	dst = append(dst, byte(k))
	for i := k - 1; i >= 0; i-- {
		dst = append(dst, byte(seq>>(8*i)))
	}
	return binary.AppendUvarint(dst, code)
}

// parseReadPart reads what appendReadPart wrote: seq and the camera's code,
// or seq 0 and h. Every read part has one encoding only.
func parseReadPart(b []byte) (seq, code uint64, h []byte, ok bool) {
	switch {
	case len(b) == 0:
		return 0, 0, nil, false
	case b[0] == 0:
		return 0, 0, b[1:], len(b) == 1+idHashLen
	}
	k := int(b[0])
	if k > 8 || len(b) < 1+k || b[1] == 0 {
		return 0, 0, nil, false
	}
	for _, c := range b[1 : 1+k] {
		seq = seq<<8 | uint64(c)
	}
	code, n := binary.Uvarint(b[1+k:])
	// The shortest encoding only: Uvarint also takes one padded with a
	// last byte of 0.
	if n <= 0 || 1+k+n != len(b) || n > 1 && b[len(b)-1] == 0 {
		return 0, 0, nil, false
	}
	return seq, code, nil, true
}

// validNorm reports whether s can be a normalized plate in a key.
func validNorm[T string | []byte](s T) bool {
	if len(s) < plate.MinLen || len(s) > plate.MaxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Flag bits of a passage value's first byte.
const (
	classMask     = 0x07 // vehicle class code, see classCodes
	flagConfQ     = 0x08 // confidence as uvarint of confidence×confScale
	flagConfRaw   = 0x10 // confidence as 8 float64 bytes (when ×confScale loses bits)
	flagLane      = 0x20 // lane as a signed varint
	flagPlateDiff = 0x40 // plate as read differs from plate_norm and follows
	// flagPlateSep (with flagPlateDiff): the plate as read is plate_norm with
	// one separator byte between some of its characters ("1-ABC-234",
	// "AB 12 CDE"), stored as that byte and a uvarint bit mask (bit i: after
	// character i) instead of the plate.
	flagPlateSep = 0x80
)

// Tokens allowed in the derived strings of a passage value.
const (
	readIDTokens = (1<<numTokens - 1) &^ (1<<tokReadID | 1)
	imageTokens  = (1<<numTokens - 1) &^ 1
)

const (
	confScale    = 10000
	classLiteral = 7 // the class string follows the image_ref
)

// classCodes maps vehicle class codes to names; the index is the code.
var classCodes = [...]string{plate.ClassUnknown, plate.ClassCar, plate.ClassVan,
	plate.ClassTruck, plate.ClassBus, plate.ClassMotorcycle}

func classCode(c string) byte {
	for i, name := range classCodes {
		if c == name {
			return byte(i)
		}
	}
	return classLiteral
}

// appendPassageValue appends the parts of r, whose gatewaySeq is seq, that
// its key does not hold:
//
//	flags byte
//	[camera_id]                 when seq is 0: uvarint length + bytes
//	[read_id]                   when seq is 0: derived string (derive.go): camera id and capture time tokens
//	[plate]                     when flagPlateDiff: separator byte + uvarint mask with
//	                            flagPlateSep, else uvarint length + bytes
//	country                     uvarint length + bytes
//	[confidence]                flagConfQ: uvarint; flagConfRaw: 8 bytes float64 bits
//	[lane]                      when flagLane: varint
//	image_ref                   derived string: the read id's tokens and read_id
//	[vehicle_class]             when class code is classLiteral: uvarint length + bytes
func appendPassageValue(dst []byte, r *plate.Read, seq uint64) []byte {
	flags := classCode(r.VehicleClass)
	q := math.Round(r.Confidence * confScale)
	switch {
	case r.Confidence == -1:
	case r.Confidence >= 0 && r.Confidence <= 1 && q/confScale == r.Confidence:
		flags |= flagConfQ
	default:
		flags |= flagConfRaw
	}
	if r.Lane != -1 {
		flags |= flagLane
	}
	if r.Plate != r.PlateNorm {
		flags |= flagPlateDiff
	}
	sep, mask := separators(r.Plate, r.PlateNorm)
	if mask != 0 {
		flags |= flagPlateSep
	}
	dst = append(dst, flags)
	var t tokens
	t.fill(r.CameraID, r.ReadID, r.TS)
	if seq == 0 {
		dst = appendString(dst, r.CameraID)
		dst = appendDerived(dst, r.ReadID, &t, readIDTokens)
	}
	switch {
	case flags&flagPlateSep != 0:
		dst = binary.AppendUvarint(append(dst, sep), mask)
	case flags&flagPlateDiff != 0:
		dst = appendString(dst, r.Plate)
	}
	dst = appendString(dst, r.Country)
	switch {
	case flags&flagConfQ != 0:
		dst = binary.AppendUvarint(dst, uint64(q))
	case flags&flagConfRaw != 0:
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(r.Confidence))
	}
	if flags&flagLane != 0 {
		dst = binary.AppendVarint(dst, int64(r.Lane))
	}
	dst = appendDerived(dst, r.ImageRef, &t, imageTokens)
	if flags&classMask == classLiteral {
		dst = appendString(dst, r.VehicleClass)
	}
	return dst
}

// separators returns the separator and mask of flagPlateSep when read is
// norm with one byte other than A-Z and 0-9 between some of its characters
// (never two in a row, none at either end), else mask 0.
func separators(read, norm string) (sep byte, mask uint64) {
	i := 0         // characters of norm matched
	after := false // read[j-1] was the separator
	for j := 0; j < len(read); j++ {
		c := read[j]
		switch {
		case i < len(norm) && c == norm[i]:
			i++
			after = false
		case after || i == 0 || i == len(norm) || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || mask != 0 && c != sep:
			return 0, 0
		default:
			sep, after = c, true
			mask |= 1 << (i - 1)
		}
	}
	if i != len(norm) || after {
		return 0, 0
	}
	return sep, mask
}

// withSeparators reads what separators returned and rebuilds the plate.
func withSeparators(d *decoder, norm string) string {
	sep := d.bytes(1)
	mask := d.uvarint()
	if d.err != nil || mask == 0 || mask>>(len(norm)-1) != 0 {
		d.fail()
		return ""
	}
	b := make([]byte, 0, 2*len(norm))
	for i := range len(norm) {
		b = append(b, norm[i])
		if mask&(1<<i) != 0 {
			b = append(b, sep[0])
		}
	}
	return string(b)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

var errCorrupt = errors.New("corrupt value")

// decoder reads the fields appendPassageValue and appendEvent write. The
// first failure sticks in err.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes(d.uvarint())) }

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

// decodePassage rebuilds the read stored under key (whose plate is norm) with
// value val; cams names the camera of a gateway read part. It copies
// everything it keeps, so key and val may be reused.
func decodePassage(norm string, key, val []byte, cams *cameraDict) (plate.Read, error) {
	n := 1 + len(norm) + 1
	if len(key) < n+tsLen || len(val) == 0 {
		return plate.Read{}, errCorrupt
	}
	seq, code, _, ok := parseReadPart(key[n+tsLen:])
	if !ok {
		return plate.Read{}, errCorrupt
	}
	r := plate.Read{
		TS:         decodeTS(key[n:]),
		PlateNorm:  norm,
		Plate:      norm,
		Confidence: -1,
		Lane:       -1,
	}
	flags := val[0]
	d := decoder{b: val[1:]}
	var t tokens
	if seq == 0 {
		r.CameraID = d.string()
		t.fill(r.CameraID, "", r.TS)
		r.ReadID = d.derived(&t, readIDTokens)
	} else {
		if r.CameraID, ok = cams.id(code); !ok {
			return plate.Read{}, errCorrupt
		}
		var buf [96]byte
		id, ok := gatewayReadID(buf[:0], r.CameraID, r.TS.UnixMilli(), seq-1)
		if !ok {
			return plate.Read{}, errCorrupt
		}
		r.ReadID = string(id)
		t.fill(r.CameraID, "", r.TS)
	}
	switch {
	case flags&flagPlateSep != 0 && flags&flagPlateDiff != 0:
		r.Plate = withSeparators(&d, norm)
	case flags&flagPlateDiff != 0:
		r.Plate = d.string()
	case flags&flagPlateSep != 0:
		d.fail()
	}
	r.Country = d.string()
	switch {
	case flags&flagConfQ != 0:
		r.Confidence = float64(d.uvarint()) / confScale
	case flags&flagConfRaw != 0:
		if b := d.bytes(8); b != nil {
			r.Confidence = math.Float64frombits(binary.LittleEndian.Uint64(b))
		}
	}
	if flags&flagLane != 0 {
		r.Lane = int(d.varint())
	}
	t.readID = r.ReadID
	t.mark(r.ReadID)
	r.ImageRef = d.derived(&t, imageTokens)
	if c := flags & classMask; c == classLiteral {
		r.VehicleClass = d.string()
	} else if int(c) < len(classCodes) {
		r.VehicleClass = classCodes[c]
	} else {
		d.fail()
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	return r, d.err
}

// expiresAt returns the Badger expiry (unix seconds, rounded up so that
// nothing expires early) of data captured at ts. It is at least 1, as 0 means
// "never" to Badger.
func expiresAt(ts time.Time, retention time.Duration) uint64 {
	ms := ts.UnixMilli() + retention.Milliseconds()
	if ms <= 0 {
		return 1
	}
	return uint64((ms + 999) / 1000)
}
