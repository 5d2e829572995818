package matcher

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Columns are the CSV column names ReadCSV accepts, the SPEC §4 field
// names; "list" and "plate" are required.
var Columns = []string{"list", "plate", "country", "category", "priority", "action",
	"reference", "valid_from", "valid_until", "covert", "reason"}

// RowError is a CSV row ReadCSV skipped.
type RowError struct {
	Line   int    // line where the row starts; the header is line 1
	Field  string // column at fault; empty when the row as a whole is
	Reason string // never quotes a plate
}

func (e RowError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Reason)
}

// ReadCSV reads hotlist entries from CSV with a header row naming the
// columns (Columns, in any order, case-insensitive). Cells are trimmed;
// an empty cell is the zero value. Times are RFC 3339, covert is true or
// false, priority an integer. Plates are returned normalized and countries
// upper-cased.
//
// A bad row is skipped and reported as a RowError; the good entries are
// returned. The error is non-nil only when the file as a whole is unusable:
// no header, an unknown, repeated or missing required column, or CSV that
// cannot be parsed (an unterminated quote, say).
func ReadCSV(r io.Reader) ([]Entry, []RowError, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, errors.New("read hotlist csv: no header row")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read hotlist csv header: %w", err)
	}
	cols, err := csvColumns(header)
	if err != nil {
		return nil, nil, fmt.Errorf("read hotlist csv header: %w", err)
	}

	var entries []Entry
	var bad []RowError
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if pe := (*csv.ParseError)(nil); errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
			bad = append(bad, RowError{Line: pe.StartLine,
				Reason: fmt.Sprintf("%d fields, the header has %d", len(rec), len(cols))})
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read hotlist csv: %w", err)
		}
		line, _ := cr.FieldPos(0)
		e, field, reason := csvEntry(cols, rec)
		if field != "" {
			bad = append(bad, RowError{Line: line, Field: field, Reason: reason})
			continue
		}
		entries = append(entries, e)
	}
	return entries, bad, nil
}

// csvColumns maps each header cell to its column name.
func csvColumns(header []string) ([]string, error) {
	cols := make([]string, len(header))
	seen := make(map[string]bool, len(header))
	var errs []error
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\uFEFF") // byte order mark written by spreadsheets
		}
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case !contains(Columns, h):
			errs = append(errs, fmt.Errorf("column %d %q: unknown, want some of %s", i+1, h, strings.Join(Columns, ",")))
		case seen[h]:
			errs = append(errs, fmt.Errorf("column %d %q: repeated", i+1, h))
		}
		seen[h] = true
		cols[i] = h
	}
	for _, req := range []string{"list", "plate"} {
		if !seen[req] {
			errs = append(errs, fmt.Errorf("column %q: required", req))
		}
	}
	return cols, errors.Join(errs...)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// csvEntry parses one row, or returns the first field at fault and why.
func csvEntry(cols, rec []string) (e Entry, field, reason string) {
	for i, v := range rec {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		var err error
		switch cols[i] {
		case "list":
			e.List = v
		case "plate":
			e.Plate = v
		case "country":
			e.Country = strings.ToUpper(v)
		case "category":
			e.Category = v
		case "priority":
			e.Priority, err = strconv.Atoi(v)
			if err != nil {
				return Entry{}, "priority", "not an integer"
			}
		case "action":
			e.Action = v
		case "reference":
			e.Reference = v
		case "valid_from":
			e.ValidFrom, err = time.Parse(time.RFC3339, v)
			if err != nil {
				return Entry{}, "valid_from", "not an RFC 3339 time"
			}
		case "valid_until":
			e.ValidUntil, err = time.Parse(time.RFC3339, v)
			if err != nil {
				return Entry{}, "valid_until", "not an RFC 3339 time"
			}
		case "covert":
			switch strings.ToLower(v) {
			case "true":
				e.Covert = true
			case "false":
			default:
				return Entry{}, "covert", "not true or false"
			}
		case "reason":
			e.Reason = v
		}
	}
	norm, field, reason := e.Check()
	if field != "" {
		return Entry{}, field, reason
	}
	e.Plate = norm
	return e, "", ""
}
