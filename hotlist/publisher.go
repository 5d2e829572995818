package hotlist

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/matcher"
	"github.com/anpr/anpr/plate"
)

// writeChunk is how many records Put hands the writer at once, so that a
// large import is not held as messages all at once.
const writeChunk = 5000

// Publisher writes hotlist changes to the topic. Its methods are safe for
// concurrent use. A change is in force once the Followers apply it.
type Publisher struct {
	cfg   Config
	known map[string]bool // nil: any valid list name
	w     *kclient.Writer
}

// NewPublisher returns a Publisher. It starts nothing; Close releases its
// connections.
func NewPublisher(cfg Config) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new hotlist publisher: %w", err)
	}
	cfg.setDefaults()
	p := &Publisher{cfg: cfg, w: cfg.Kafka.Writer(cfg.Topic)}
	if cfg.Lists != nil {
		p.known = make(map[string]bool, len(cfg.Lists))
		for _, l := range cfg.Lists {
			p.known[l] = true
		}
	}
	return p, nil
}

// Close flushes and closes the writer.
func (p *Publisher) Close() error { return p.w.Close() }

// EntryError is an entry Put refused, or the plate Delete refused.
type EntryError struct {
	Index  int    // position in the entries given to Put
	Field  string // the field at fault
	Reason string // never quotes a plate
	err    error  // matcher.ErrUnknownList for an unknown list
}

func (e EntryError) Error() string {
	return fmt.Sprintf("entry %d: %s: %s", e.Index, e.Field, e.Reason)
}

// Unwrap returns matcher.ErrUnknownList when the list is unknown.
func (e EntryError) Unwrap() error { return e.err }

// EntryErrors are the entries refused by one call, in order.
type EntryErrors []EntryError

func (es EntryErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return "invalid hotlist entries: " + strings.Join(msgs, "; ")
}

// Unwrap returns each EntryError.
func (es EntryErrors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// Put writes an upsert of each valid entry, with its plate normalized and
// its country upper-cased, and returns once the brokers have them
// (acks=all). Invalid entries (Check, or a list not in Config.Lists) are
// not written: the error then includes an EntryErrors with one EntryError
// each (errors.As), and errors.Is(err, matcher.ErrUnknownList) tells
// whether a list was unknown. A write error may leave some entries
// written; writing them again is harmless.
func (p *Publisher) Put(ctx context.Context, entries []matcher.Entry) error {
	var invalid EntryErrors
	var msgs []kafka.Message
	var writeErr error
	written := 0
	flush := func() {
		if writeErr == nil && len(msgs) > 0 {
			if writeErr = p.write(ctx, msgs); writeErr == nil {
				written += len(msgs)
			}
		}
		msgs = msgs[:0]
	}
	for i := range entries {
		e := entries[i]
		norm, field, reason := Check(&e)
		var err error
		if field == "" && p.known != nil && !p.known[e.List] {
			field, reason, err = "list", "unknown list", matcher.ErrUnknownList
		}
		if field != "" {
			invalid = append(invalid, EntryError{Index: i, Field: field, Reason: reason, err: err})
			continue
		}
		e.Plate, e.Country = norm, strings.ToUpper(e.Country)
		msgs = append(msgs, kafka.Message{Key: []byte(key(e.List, norm)), Value: e.AppendJSON(nil)})
		if len(msgs) == writeChunk {
			flush()
		}
	}
	flush()
	var errs []error
	if writeErr != nil {
		errs = append(errs, fmt.Errorf("publish hotlist entries (%d written before): %w", written, writeErr))
	}
	if len(invalid) > 0 {
		errs = append(errs, invalid)
	}
	return errors.Join(errs...)
}

// Delete writes a tombstone for the entry of list with the normalized form
// of plateText and returns once the brokers have it. Deleting an absent
// entry is not an error. A list not in Config.Lists is an error wrapping
// matcher.ErrUnknownList; a plate that does not normalize an EntryErrors.
func (p *Publisher) Delete(ctx context.Context, list, plateText string) error {
	if !matcher.ValidListName(list) || p.known != nil && !p.known[list] {
		return fmt.Errorf("delete hotlist entry: %w %q", matcher.ErrUnknownList, list)
	}
	norm, ok := plate.Normalize(plateText)
	if !ok {
		return EntryErrors{{Field: "plate", Reason: "does not normalize to 2..12 characters A-Z 0-9"}}
	}
	if err := p.write(ctx, []kafka.Message{{Key: []byte(key(list, norm))}}); err != nil {
		return fmt.Errorf("delete hotlist entry of list %q: %w", list, err)
	}
	return nil
}

func (p *Publisher) write(ctx context.Context, msgs []kafka.Message) error {
	return p.w.WriteMessages(ctx, msgs...)
}

// ErrBadCSV is wrapped by ParseImport's error when the file as a whole is
// unusable (header, quoting): the caller's mistake, not ours.
var ErrBadCSV = errors.New("unusable CSV")

// ParseImport reads CSV (matcher.ReadCSV: a header row naming the SPEC §4
// columns) into the entries of list, writing nothing, so that a caller can
// audit a change before it goes out. A row that is invalid or belongs to
// another list is returned among the bad rows, sorted by line. The error
// is non-nil when list is unknown or when the file as a whole is unusable
// (its message then names the expected header). It holds the whole file in
// memory.
func (p *Publisher) ParseImport(list string, r io.Reader) (entries []matcher.Entry, bad []matcher.RowError, err error) {
	if !matcher.ValidListName(list) || p.known != nil && !p.known[list] {
		return nil, nil, fmt.Errorf("import hotlist: %w %q", matcher.ErrUnknownList, list)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("import hotlist %q: read csv: %w", list, err)
	}
	entries, bad, err = matcher.ReadCSV(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("import hotlist %q: %w: want a header row of %s (list and plate required, any order): %w",
			list, ErrBadCSV, strings.Join(matcher.Columns, ","), err)
	}
	lines := goodLines(data, bad)
	keep := entries[:0]
	for i, e := range entries {
		if e.List != list {
			line := 0
			if i < len(lines) {
				line = lines[i]
			}
			bad = append(bad, matcher.RowError{Line: line, Field: "list",
				Reason: fmt.Sprintf("list %q, not %q", e.List, list)})
			continue
		}
		keep = append(keep, e)
	}
	slices.SortStableFunc(bad, func(a, b matcher.RowError) int { return cmp.Compare(a.Line, b.Line) })
	return keep, bad, nil
}

// goodLines returns the line of each row of data that matcher.ReadCSV
// returned an entry for, in order: the rows not in bad. ReadCSV does not
// say where its entries came from, and ParseImport needs the line of a row of
// another list.
func goodLines(data []byte, bad []matcher.RowError) []int {
	skip := make(map[int]bool, len(bad))
	for _, b := range bad {
		skip[b.Line] = true
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1 // ReadCSV reported rows of the wrong length
	cr.ReuseRecord = true
	if _, err := cr.Read(); err != nil { // the header
		return nil
	}
	var lines []int
	for {
		if _, err := cr.Read(); err != nil {
			return lines // io.EOF: ReadCSV accepted the file, so it parses
		}
		if line, _ := cr.FieldPos(0); !skip[line] {
			lines = append(lines, line)
		}
	}
}
