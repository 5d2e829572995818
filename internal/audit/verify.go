package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Reason says why Verify refused a record.
type Reason string

// Reasons, by what the chain shows.
const (
	// Changed: the record's content no longer matches its hash, or its prev
	// does not match the record before (one of the two was rewritten).
	Changed Reason = "changed"
	// Deleted: records are missing before this one.
	Deleted Reason = "deleted"
	// Reordered: a later record comes before this one.
	Reordered Reason = "reordered"
	// Inserted: a record with a seq already seen (a copy or a forgery).
	Inserted Reason = "inserted"
	// Truncated: the last line is cut short.
	Truncated Reason = "truncated"
	// Malformed: not a record in canonical form.
	Malformed Reason = "malformed"
)

// VerifyError is the first break in the chain Verify found.
type VerifyError struct {
	// Seq is the first record that does not verify: the one expected at
	// that point of the chain (its content or position is wrong, or it is
	// missing); for Inserted, the seq the intruding line repeats.
	Seq uint64
	// Line is the 1-based line of the input where the break shows.
	Line   int
	Reason Reason
	Detail string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("audit record %d (line %d) %s: %s", e.Seq, e.Line, e.Reason, e.Detail)
}

// Verify reads a trail (the log file or an Export) and checks every record's
// hash, canonical form, seq (1, 2, 3…) and link to the one before. It
// returns how many records verified and, at the first break, a *VerifyError.
// Removing whole records from the end cannot be detected from the trail
// alone: compare n, or the last hash, with one kept elsewhere.
func Verify(r io.Reader) (n int, err error) {
	sc := newScanner(r)
	want, prev := uint64(1), Genesis
	line := 0
	// next reads a line; ok is false at the end of input.
	next := func() (Record, bool, error) {
		if !sc.Scan() {
			return Record{}, false, nil
		}
		line++
		raw := sc.Bytes()
		if !bytes.HasSuffix(raw, []byte("\n")) {
			return Record{}, true, errTorn
		}
		rec, err := parseLine(raw[:len(raw)-1])
		return rec, true, err
	}
	fail := func(seq uint64, why Reason, format string, args ...any) (int, error) {
		return n, &VerifyError{Seq: seq, Line: line, Reason: why, Detail: fmt.Sprintf(format, args...)}
	}
	rec, ok, perr := next()
	for ok {
		switch {
		case errors.Is(perr, errTorn):
			return fail(want, Truncated, "last line cut short (no newline)")
		case errors.Is(perr, errHash):
			return fail(want, Changed, "%v (the line claims seq %d)", perr, rec.Seq)
		case perr != nil:
			return fail(want, Malformed, "%v", perr)
		case rec.Seq < want:
			return fail(rec.Seq, Inserted, "seq %d again after seq %d", rec.Seq, want-1)
		case rec.Seq > want:
			// Swapped lines show as the later seq first, then the expected one.
			following, fok, ferr := next()
			if fok && ferr == nil && following.Seq == want {
				line--
				return fail(want, Reordered, "seq %d comes after seq %d", want, rec.Seq)
			}
			line--
			return fail(want, Deleted, "seq %d to %d missing before seq %d", want, rec.Seq-1, rec.Seq)
		case rec.Prev != prev:
			return fail(want, Changed, "prev does not match the hash of seq %d: one of the two was rewritten", want-1)
		}
		n++
		want, prev = rec.Seq+1, rec.Hash
		rec, ok, perr = next()
	}
	if err := sc.Err(); err != nil {
		return fail(want, Malformed, "read: %v", err)
	}
	return n, nil
}

var errTorn = errors.New("torn line")
