package hotlist

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/matcher"
)

// topicSize returns the sum of the high watermarks of the topic: the
// records ever written to it.
func topicSize(t *testing.T, kc kclient.Config) int64 {
	t.Helper()
	tr := kc.Transport()
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(kc.Brokers...), Transport: tr}
	hwm, err := listWatermarks(context.Background(), c, DefaultTopic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, w := range hwm {
		n += w
	}
	return n
}

const importCSV = `list,plate,country,priority,valid_from,valid_until,reason
stolen,1-ABC-234,BE,1,,,theft
stolen,!,BE,1,,,bad plate
uninsured,2XYZ999,,,,,another list
stolen,3DEF456,NL,2,2026-01-01T00:00:00Z,2027-01-01T00:00:00Z,ok
stolen,4GHI789,BE,x,,,bad priority
stolen,5JKL012
`

func TestImport(t *testing.T) {
	kc := startBroker(t)
	p := newPublisher(t, kc, []string{"stolen", "uninsured"})
	m := newMatcher(t)
	f := startFollower(t, kc, m, nil)
	waitReady(t, f)
	ctx := context.Background()
	wantErrors := []matcher.RowError{
		{Line: 3, Field: "plate"},
		{Line: 4, Field: "list"},
		{Line: 6, Field: "priority"},
		{Line: 7}, // too few fields
	}
	lines := func(errs []matcher.RowError) []matcher.RowError {
		var out []matcher.RowError
		for _, e := range errs {
			out = append(out, matcher.RowError{Line: e.Line, Field: e.Field})
		}
		return out
	}

	before := topicSize(t, kc)
	entries, bad, err := p.ParseImport("stolen", strings.NewReader(importCSV))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || !slices.Equal(lines(bad), wantErrors) {
		t.Errorf("ParseImport = %d entries, errors %v; want 2, %v", len(entries), bad, wantErrors)
	}
	if after := topicSize(t, kc); after != before {
		t.Errorf("ParseImport wrote %d records, want 0", after-before)
	}
	if err := p.Put(ctx, entries); err != nil {
		t.Fatal(err)
	}
	for _, e := range bad {
		if strings.Contains(e.Reason, "ABC") || strings.Contains(e.Reason, "XYZ") {
			t.Errorf("row error %v quotes a plate", e)
		}
	}
	waitFor(t, inForce, "imported entries in force", func() bool {
		return len(m.Entries("stolen", "1ABC234")) == 1 && len(m.Entries("stolen", "3DEF456")) == 1
	})
	e := m.Entries("stolen", "3DEF456")[0]
	if want := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC); !e.ValidUntil.Equal(want) || e.Country != "NL" {
		t.Errorf("imported entry = %+v, want valid_until %v, country NL", e, want)
	}
	if got := m.Entries("uninsured", "2XYZ999"); len(got) != 0 {
		t.Errorf("row of another list applied: %+v", got)
	}
}

func TestImportRefused(t *testing.T) {
	kc := startBroker(t)
	p := newPublisher(t, kc, []string{"stolen"})
	for _, c := range []struct {
		name, list, csv string
		want            []string // in the error message
		unknownList     bool
	}{
		{"wrong header", "stolen", "list,plat\nstolen,AB123\n", []string{"list,plate,country,category,priority,action,reference,valid_from,valid_until,covert,reason", `"plat"`}, false},
		{"no header", "stolen", "", []string{"list,plate,country"}, false},
		{"unknown list", "wanted", "list,plate\nwanted,AB123\n", []string{"wanted"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := topicSize(t, kc)
			entries, _, err := p.ParseImport(c.list, strings.NewReader(c.csv))
			if err == nil {
				t.Fatalf("ParseImport = %d entries, nil; want an error", len(entries))
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if got := errors.Is(err, matcher.ErrUnknownList); got != c.unknownList {
				t.Errorf("errors.Is(err, ErrUnknownList) = %v, want %v", got, c.unknownList)
			}
			if after := topicSize(t, kc); after != before {
				t.Errorf("refused import wrote %d records", after-before)
			}
		})
	}
}

func TestPutRefusesInvalid(t *testing.T) {
	kc := startBroker(t)
	p := newPublisher(t, kc, []string{"stolen"})
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	entries := []matcher.Entry{
		{List: "stolen", Plate: "OK1"},
		{List: "stolen", Plate: "-"},
		{List: "wanted", Plate: "AB123"},
		{List: "stolen", Plate: "AB123", Country: "BEL"},
		{List: "stolen", Plate: "AB123", ValidFrom: from, ValidUntil: from},
		{List: "stolen", Plate: "OK2"},
	}
	before := topicSize(t, kc)
	err := p.Put(context.Background(), entries)
	var got EntryErrors
	if !errors.As(err, &got) {
		t.Fatalf("Put = %v, want EntryErrors", err)
	}
	type fe struct {
		Index int
		Field string
	}
	var gotFE []fe
	for _, e := range got {
		gotFE = append(gotFE, fe{e.Index, e.Field})
	}
	want := []fe{{1, "plate"}, {2, "list"}, {3, "country"}, {4, "valid_until"}}
	if !slices.Equal(gotFE, want) {
		t.Errorf("entry errors = %v, want %v", gotFE, want)
	}
	if !errors.Is(err, matcher.ErrUnknownList) {
		t.Errorf("errors.Is(%v, ErrUnknownList) = false, want true", err)
	}
	if n := topicSize(t, kc) - before; n != 2 {
		t.Errorf("records written = %d, want the 2 valid entries", n)
	}
	if err := p.Delete(context.Background(), "wanted", "AB123"); !errors.Is(err, matcher.ErrUnknownList) {
		t.Errorf("Delete of an unknown list = %v, want ErrUnknownList", err)
	}
	if err := p.Delete(context.Background(), "stolen", "-"); !errors.As(err, &got) || got[0].Field != "plate" {
		t.Errorf("Delete of a bad plate = %v, want an EntryError on plate", err)
	}
}

// TestCheckAgreesWithMatcher keeps Check in step with the matcher's own
// validation, which it repeats.
func TestCheckAgreesWithMatcher(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	long := strings.Repeat("x", 4097)
	for _, c := range []struct {
		name  string
		e     matcher.Entry
		field string
	}{
		{"valid", matcher.Entry{List: "stolen", Plate: "1-abc-234", Country: "be"}, ""},
		{"no plate", matcher.Entry{List: "stolen"}, "plate"},
		{"short plate", matcher.Entry{List: "stolen", Plate: "A"}, "plate"},
		{"long plate", matcher.Entry{List: "stolen", Plate: "ABCDEFGHIJKLM"}, "plate"},
		{"country", matcher.Entry{List: "stolen", Plate: "AB1", Country: "B1"}, "country"},
		{"validity", matcher.Entry{List: "stolen", Plate: "AB1", ValidFrom: from, ValidUntil: from.Add(-time.Hour)}, "valid_until"},
		{"open validity", matcher.Entry{List: "stolen", Plate: "AB1", ValidUntil: from}, ""},
		{"long category", matcher.Entry{List: "stolen", Plate: "AB1", Category: long}, "category"},
		{"long action", matcher.Entry{List: "stolen", Plate: "AB1", Action: long}, "action"},
		{"long reference", matcher.Entry{List: "stolen", Plate: "AB1", Reference: long}, "reference"},
		{"long reason", matcher.Entry{List: "stolen", Plate: "AB1", Reason: long}, "reason"},
		{"longest reason", matcher.Entry{List: "stolen", Plate: "AB1", Reason: long[1:]}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, field, reason := Check(&c.e)
			if field != c.field {
				t.Errorf("Check field = %q (%s), want %q", field, reason, c.field)
			}
			err := newMatcher(t).Apply([]matcher.Change{{Entry: c.e}})
			if (err == nil) != (field == "") || err != nil && !strings.Contains(err.Error(), field+": "+reason) {
				t.Errorf("matcher.Apply = %v, Check = %q: %q; want them to agree", err, field, reason)
			}
		})
	}
}
