package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Record is one entry of the audit trail.
type Record struct {
	// Seq, Time, Prev and Hash are set by Append.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Who is the caller's name, Roles its roles.
	Who   string   `json:"who"`
	Roles []string `json:"roles"`
	// Action says what was done: "passages.query", "hotlist.add", "hit.ack"….
	Action string `json:"action"`
	// CaseRef and ApprovalRef are the legal grounds (X-Case-Ref,
	// X-Approval-Ref); empty when the action needs none.
	CaseRef     string `json:"case_ref"`
	ApprovalRef string `json:"approval_ref"`
	// Query is the request path and query, or a description of the change;
	// plates allowed. Append cuts it to MaxQuery bytes.
	Query string `json:"query"`
	// Results is the number of results returned, Status the HTTP status.
	Results int    `json:"results"`
	Status  int    `json:"status"`
	Prev    string `json:"prev"`
	Hash    string `json:"hash"`
}

// Limits on what is written.
const (
	// MaxQuery is the longest Query kept; a longer one is cut at a UTF-8
	// boundary and ends with "…".
	MaxQuery = 8 << 10
	// MaxLine is the longest line, newline included, Append writes and
	// Open, Read and Verify accept.
	MaxLine = 64 << 10
)

// Genesis is the prev of the first record.
var Genesis = strings.Repeat("0", 64)

const timeFormat = "2006-01-02T15:04:05.000Z"

// hashSuffixLen is the length of `,"hash":"<64 hex>"}`.
const hashSuffixLen = len(`,"hash":""}`) + 64

// normalize makes r's strings what will be read back: valid UTF-8, Query cut
// to MaxQuery, Roles non-nil, Time in UTC to the millisecond.
func normalize(r *Record) {
	fix := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	r.Who, r.Action, r.CaseRef, r.ApprovalRef = fix(r.Who), fix(r.Action), fix(r.CaseRef), fix(r.ApprovalRef)
	q := fix(r.Query)
	if len(q) > MaxQuery {
		cut := MaxQuery - len("…")
		for cut > 0 && !utf8.RuneStart(q[cut]) {
			cut--
		}
		q = q[:cut] + "…"
	}
	r.Query = q
	roles := make([]string, len(r.Roles))
	for i, s := range r.Roles {
		roles[i] = fix(s)
	}
	r.Roles = roles
	r.Time = r.Time.UTC().Truncate(time.Millisecond)
}

// appendLine appends r's line (canonical form, hash, newline) to dst and
// returns it with the hash. r.Hash is ignored.
func appendLine(dst []byte, r *Record) ([]byte, string) {
	start := len(dst)
	dst = appendCanonical(dst, r)
	sum := sha256.Sum256(dst[start:])
	h := hex.EncodeToString(sum[:])
	dst = dst[:len(dst)-1] // the closing brace
	dst = append(dst, `,"hash":"`...)
	dst = append(dst, h...)
	return append(dst, "\"}\n"...), h
}

// appendCanonical appends the hashed form of r: every member but hash.
func appendCanonical(b []byte, r *Record) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"time":"`...)
	b = r.Time.UTC().AppendFormat(b, timeFormat)
	b = append(b, `","who":`...)
	b = appendString(b, r.Who)
	b = append(b, `,"roles":[`...)
	for i, s := range r.Roles {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	b = append(b, `],"action":`...)
	b = appendString(b, r.Action)
	b = append(b, `,"case_ref":`...)
	b = appendString(b, r.CaseRef)
	b = append(b, `,"approval_ref":`...)
	b = appendString(b, r.ApprovalRef)
	b = append(b, `,"query":`...)
	b = appendString(b, r.Query)
	b = append(b, `,"results":`...)
	b = strconv.AppendInt(b, int64(r.Results), 10)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"prev":`...)
	b = appendString(b, r.Prev)
	return append(b, '}')
}

// appendString appends s as a JSON string, escaping only '"', '\\' and
// control bytes. s must be valid UTF-8 (normalize sees to it).
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// Why a line is refused by parseLine.
var (
	errMalformed = errors.New("not a canonical audit record")
	errHash      = errors.New("hash does not match the content")
)

// parseLine decodes one line (without its newline) and checks that it is
// canonical and that its hash matches. The record is returned, as far as it
// could be decoded, even with an error.
func parseLine(line []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return r, errMalformed
	}
	if len(line) < hashSuffixLen || !bytes.HasPrefix(line[len(line)-hashSuffixLen:], []byte(`,"hash":"`)) {
		return r, errMalformed
	}
	canon := make([]byte, 0, len(line))
	canon = append(canon, line[:len(line)-hashSuffixLen]...)
	canon = append(canon, '}')
	sum := sha256.Sum256(canon)
	if hex.EncodeToString(sum[:]) != r.Hash {
		return r, errHash
	}
	if !bytes.Equal(appendCanonical(nil, &r), canon) {
		return r, errMalformed
	}
	return r, nil
}
