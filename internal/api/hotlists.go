package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/anpr/anpr/hotlist"
	"github.com/anpr/anpr/internal/auth"
	"github.com/anpr/anpr/matcher"
	"github.com/anpr/anpr/plate"
)

// Hotlists is what the admin hotlist endpoints need: the lists as the
// matcher has them, and the publisher of changes to the hotlist topic,
// which every instance follows. Safe for concurrent use.
type Hotlists interface {
	Lists() []matcher.ListInfo
	Entries(list, plate string) []matcher.Entry
	Put(ctx context.Context, entries []matcher.Entry) error
	Delete(ctx context.Context, list, plate string) error
	ParseImport(list string, r io.Reader) (entries []matcher.Entry, bad []matcher.RowError, err error)
}

var errUnknownList = &Error{Status: http.StatusNotFound, Code: "unknown_list", Msg: "no hotlist with that name"}

// hotlist returns the configured Hotlists and the list of the path, or
// answers 404.
func (s *Server) hotlist(w http.ResponseWriter, r *http.Request) (Hotlists, string, bool) {
	list := r.PathValue("list")
	if s.cfg.Hotlists == nil || !slices.ContainsFunc(s.cfg.Hotlists.Lists(), func(l matcher.ListInfo) bool { return l.Name == list }) {
		writeError(w, errUnknownList)
		return nil, "", false
	}
	return s.cfg.Hotlists, list, true
}

func (s *Server) listHotlists(w http.ResponseWriter, r *http.Request) {
	type info struct {
		Name    string `json:"name"`
		Match   string `json:"match"`
		Covert  bool   `json:"covert"`
		Entries int    `json:"entries"`
	}
	out := []info{}
	if s.cfg.Hotlists != nil {
		for _, l := range s.cfg.Hotlists.Lists() {
			out = append(out, info{l.Name, string(l.Mode), l.Covert, l.Entries})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"hotlists": out})
}

func (s *Server) hotlistEntries(w http.ResponseWriter, r *http.Request) {
	h, list, ok := s.hotlist(w, r)
	if !ok {
		return
	}
	p := r.URL.Query().Get("plate")
	if p == "" {
		writeError(w, badRequest("plate_required", "give plate=: a list can hold millions of entries"))
		return
	}
	entries := h.Entries(list, p)
	var buf bytes.Buffer
	buf.WriteString(`{"entries":[`)
	for i := range entries {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(entries[i].AppendJSON(nil))
	}
	buf.WriteString("]}\n")
	if !s.audited(w, r, auth.Case{}, "hotlist.lookup", len(entries), http.StatusOK) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

// entryError is one refused entry of a POST.
type entryError struct {
	Index  int    `json:"index"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// putEntries takes a JSON entry or an array of them; an entry's list may
// be left out, and must otherwise be the path's.
func (s *Server) putEntries(w http.ResponseWriter, r *http.Request) {
	h, list, ok := s.hotlist(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, err)
		return
	}
	var entries []matcher.Entry
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
		err = json.Unmarshal(t, &entries)
	} else {
		entries = make([]matcher.Entry, 1)
		err = json.Unmarshal(t, &entries[0])
	}
	if err != nil {
		writeError(w, badRequest("bad_body", "want a hotlist entry (SPEC §4) or an array of them: "+err.Error()))
		return
	}
	var refused []entryError
	var good []matcher.Entry
	var index []int // position in entries of good[i]
	for i, e := range entries {
		if e.List == "" {
			e.List = list
		}
		if e.List != list {
			refused = append(refused, entryError{i, "list", fmt.Sprintf("list %q in the entry, %q in the path", e.List, list)})
			continue
		}
		good = append(good, e)
		index = append(index, i)
	}
	// Audited before it is published: no change goes out unrecorded. The
	// record counts the entries submitted for publication.
	if !s.audited(w, r, auth.Case{}, "hotlist.put", len(good), http.StatusAccepted) {
		return
	}
	err = h.Put(r.Context(), good)
	var ees hotlist.EntryErrors
	if errors.As(err, &ees) {
		for _, ee := range ees {
			refused = append(refused, entryError{index[ee.Index], ee.Field, ee.Reason})
		}
		slices.SortFunc(refused, func(a, b entryError) int { return a.Index - b.Index })
	}
	if writeFailed(err) {
		s.cfg.Logger.Error("publish hotlist entries", "list", list, "err", err)
		writeError(w, &Error{Status: http.StatusServiceUnavailable, Code: "kafka_unavailable", Msg: "the changes could not all be written to the hotlist topic; retry (writing again is harmless)"})
		return
	}
	accepted := len(entries) - len(refused)
	if refused == nil {
		refused = []entryError{}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"accepted": accepted, "rejected": len(refused), "errors": refused})
}

func (s *Server) deleteEntry(w http.ResponseWriter, r *http.Request) {
	h, list, ok := s.hotlist(w, r)
	if !ok {
		return
	}
	// Checked here, so that only a change that goes out is audited, and
	// audited before it goes out.
	if _, ok := plate.Normalize(r.PathValue("plate")); !ok {
		writeError(w, badRequest("bad_plate", "plate must have 2 to 12 letters or digits"))
		return
	}
	if !s.audited(w, r, auth.Case{}, "hotlist.delete", 1, http.StatusAccepted) {
		return
	}
	if err := h.Delete(r.Context(), list, r.PathValue("plate")); err != nil {
		s.cfg.Logger.Error("publish hotlist delete", "list", list, "err", err)
		writeError(w, &Error{Status: http.StatusServiceUnavailable, Code: "kafka_unavailable", Msg: "the delete could not be written to the hotlist topic; retry"})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"deleted": 1})
}

// importCSV takes text/csv; ?strict=true applies nothing if a row is bad.
func (s *Server) importCSV(w http.ResponseWriter, r *http.Request) {
	h, list, ok := s.hotlist(w, r)
	if !ok {
		return
	}
	strict := r.URL.Query().Get("strict") == "true"
	entries, bad, err := h.ParseImport(list, r.Body)
	switch {
	case errors.Is(err, hotlist.ErrBadCSV):
		writeError(w, badRequest("bad_csv", err.Error()))
		return
	case errors.Is(err, matcher.ErrUnknownList):
		writeError(w, errUnknownList)
		return
	case err != nil: // a body too large (413) or cut off
		writeError(w, err)
		return
	}
	if strict && len(bad) > 0 {
		entries = nil
	}
	// Audited before it goes out, with the entries about to be written.
	if !s.audited(w, r, auth.Case{}, "hotlist.import", len(entries), http.StatusAccepted) {
		return
	}
	applied := len(entries)
	if applied > 0 {
		if err := h.Put(r.Context(), entries); err != nil {
			s.cfg.Logger.Error("import hotlist", "list", list, "err", err)
			writeError(w, &Error{Status: http.StatusServiceUnavailable, Code: "kafka_unavailable", Msg: "the import could not be written to the hotlist topic; retry (writing again is harmless)"})
			return
		}
	}
	type rowError struct {
		Line   int    `json:"line"`
		Field  string `json:"field"`
		Reason string `json:"reason"`
	}
	rows := make([]rowError, len(bad))
	for i, e := range bad {
		rows[i] = rowError{e.Line, e.Field, e.Reason}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"applied": applied, "rejected": len(rows), "strict": strict, "errors": rows})
}

// writeFailed reports whether a Put error holds more than refused entries:
// a failure to write to the topic.
func writeFailed(err error) bool {
	if err == nil {
		return false
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var ees hotlist.EntryErrors
		if !errors.As(e, &ees) {
			return true
		}
	}
	return false
}
