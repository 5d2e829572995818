package api

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/anpr/anpr/ingest"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/plate"
)

// Page sizes of list endpoints.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

func (s *Server) postReads(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, err)
		return
	}
	res, err := s.cfg.Gateway.Accept(r.Context(), body)
	if errors.Is(err, ingest.ErrBadBody) {
		writeError(w, badRequest("bad_body", err.Error()))
		return
	}
	if err != nil {
		s.cfg.Logger.Error("post reads", "err", err)
		writeError(w, &Error{Status: http.StatusServiceUnavailable, Code: "kafka_unavailable", Msg: "reads could not be written to Kafka; retry"})
		return
	}
	writeJSON(w, http.StatusAccepted, res)
}

// limitParam parses ?limit=, defaulting and capping it.
func limitParam(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, badRequest("bad_limit", "limit must be a positive integer")
	}
	return min(n, maxLimit), nil
}

func (s *Server) listHits(w http.ResponseWriter, r *http.Request) {
	p := principal(r.Context())
	s.listEvents(w, r, store.Hits, "hits", func(js []byte) bool { return visible(p, js) })
}

// listViolations filters by ?section= when given.
func (s *Server) listViolations(w http.ResponseWriter, r *http.Request) {
	var keep func([]byte) bool
	if id := r.URL.Query().Get("section"); id != "" {
		if s.cfg.Sections == nil || s.cfg.Sections.SectionStatsJSON(id) == nil {
			writeError(w, &Error{Status: http.StatusNotFound, Code: "unknown_section", Msg: "no section with that id"})
			return
		}
		// The violation JSON is ours (sectioncontrol.Violation.AppendJSON):
		// its section id is written exactly so.
		field := plate.AppendJSONString([]byte(`,"section_id":`), id)
		keep = func(js []byte) bool { return bytes.Contains(js, field) }
	}
	s.listEvents(w, r, store.Violations, "violations", keep)
}

// maxScanned bounds the events a filtered page reads; the page may then be
// short, and its cursor continues the scan.
const maxScanned = 10 * maxLimit

// listEvents answers {"<name>":[…],"next":CURSOR} with the events of log l
// after ?after=, oldest first, those keep accepts (nil: all).
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, l store.Log, name string, keep func([]byte) bool) {
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	next := r.URL.Query().Get("after")
	var out []store.Event
	for scanned := 0; len(out) < limit && scanned < maxScanned; {
		evs, cur, err := s.cfg.Store.Events(l, next, min(limit-len(out), maxLimit))
		if errors.Is(err, store.ErrBadCursor) {
			writeError(w, badRequest("bad_cursor", "after is not a cursor this server gave out"))
			return
		}
		if err != nil {
			s.cfg.Logger.Error("list events", "log", l.String(), "err", err)
			writeError(w, err)
			return
		}
		next = cur
		scanned += len(evs)
		for _, ev := range evs {
			if keep == nil || keep(ev.JSON) {
				out = append(out, ev)
			}
		}
		if len(evs) == 0 || keep == nil {
			break
		}
	}
	var buf bytes.Buffer
	buf.WriteString(`{"` + name + `":[`)
	for i := range out {
		if i > 0 {
			buf.WriteByte(',')
		}
		appendEvent(&buf, &out[i])
	}
	buf.WriteString(`],"next":`)
	buf.Write(strconv.AppendQuote(nil, next))
	buf.WriteString("}\n")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) listSections(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if s.cfg.Sections == nil {
		_, _ = w.Write([]byte("{\"sections\":[]}\n"))
		return
	}
	_, _ = w.Write(s.cfg.Sections.SectionsJSON())
}

func (s *Server) sectionStats(w http.ResponseWriter, r *http.Request) {
	var js []byte
	if s.cfg.Sections != nil {
		js = s.cfg.Sections.SectionStatsJSON(r.PathValue("id"))
	}
	if js == nil {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "unknown_section", Msg: "no section with that id"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(js)
}

// streamHits sends hits as server-sent events, oldest first from the
// cursor in Last-Event-ID (or ?after=), then live as they are stored.
func (s *Server) streamHits(w http.ResponseWriter, r *http.Request) {
	cursor := r.Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = r.URL.Query().Get("after")
	}
	if _, _, err := s.cfg.Store.Events(store.Hits, cursor, 1); errors.Is(err, store.ErrBadCursor) {
		writeError(w, badRequest("bad_cursor", "Last-Event-ID is not a cursor this server gave out"))
		return
	}
	p := principal(r.Context())
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s.m.streams.Inc()
	defer s.m.streams.Dec()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	var buf bytes.Buffer
	send := func() error {
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.StreamWriteTimeout))
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
		buf.Reset()
		return rc.Flush()
	}
	buf.WriteString(": anpr hit stream\n\n")
	if send() != nil {
		return
	}
	for {
		// Take the notification channel before reading, so a hit stored in
		// between wakes us.
		wake := s.cfg.Store.Notify(store.Hits)
		evs, next, err := s.cfg.Store.Events(store.Hits, cursor, maxLimit)
		if err != nil {
			s.cfg.Logger.Error("stream hits", "err", err)
			return
		}
		if len(evs) > 0 {
			for i := range evs {
				if !visible(p, evs[i].JSON) {
					continue
				}
				buf.WriteString("id: ")
				buf.WriteString(evs[i].Cursor)
				buf.WriteString("\nevent: hit\ndata: ")
				appendEvent(&buf, &evs[i])
				buf.WriteString("\n\n")
			}
			cursor = next
			if buf.Len() > 0 && send() != nil {
				return
			}
			continue
		}
		select {
		case <-r.Context().Done():
			return
		case <-wake:
		case <-keepalive.C:
			buf.WriteString(": keepalive\n\n")
			if send() != nil {
				return
			}
		}
	}
}
