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
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	evs, next, err := s.cfg.Store.Events(store.Hits, r.URL.Query().Get("after"), limit)
	if errors.Is(err, store.ErrBadCursor) {
		writeError(w, badRequest("bad_cursor", "after is not a cursor this server gave out"))
		return
	}
	if err != nil {
		s.cfg.Logger.Error("list hits", "err", err)
		writeError(w, err)
		return
	}
	var buf bytes.Buffer
	buf.WriteString(`{"hits":[`)
	for i, ev := range evs {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(ev.JSON)
	}
	buf.WriteString(`],"next":`)
	buf.Write(strconv.AppendQuote(nil, next))
	buf.WriteString("}\n")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

// streamWriteTimeout cuts off a stream client that stops reading, so it
// holds nothing up.
const streamWriteTimeout = 10 * time.Second

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
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
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
			for _, ev := range evs {
				buf.WriteString("id: ")
				buf.WriteString(ev.Cursor)
				buf.WriteString("\nevent: hit\ndata: ")
				buf.Write(ev.JSON)
				buf.WriteString("\n\n")
			}
			cursor = next
			if send() != nil {
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

func (s *Server) listPassages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	raw := q.Get("plate")
	if raw == "" {
		// Camera and time-window queries come with the investigation issue.
		writeError(w, &Error{Status: http.StatusNotImplemented, Code: "not_implemented", Msg: "only search by plate is available so far: give plate="})
		return
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] == '?' || raw[i] == '*' {
			writeError(w, &Error{Status: http.StatusNotImplemented, Code: "not_implemented", Msg: "pattern search is not available yet: give an exact plate"})
			return
		}
	}
	norm, ok := plate.Normalize(raw)
	if !ok {
		writeError(w, badRequest("bad_plate", "plate must have 2 to 12 letters or digits"))
		return
	}
	from, err := timeParam(q.Get("from"), "from")
	if err != nil {
		writeError(w, err)
		return
	}
	to, err := timeParam(q.Get("to"), "to")
	if err != nil {
		writeError(w, err)
		return
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		writeError(w, badRequest("bad_window", "from must be before to"))
		return
	}
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	reads, next, err := s.cfg.Store.Passages(store.PassageQuery{Plate: norm, From: from, To: to, After: q.Get("after"), Limit: limit})
	if errors.Is(err, store.ErrBadCursor) {
		writeError(w, badRequest("bad_cursor", "after is not a cursor this server gave out"))
		return
	}
	if err != nil {
		s.cfg.Logger.Error("list passages", "err", err)
		writeError(w, err)
		return
	}
	var buf bytes.Buffer
	buf.WriteString(`{"passages":[`)
	var b []byte
	for i := range reads {
		if i > 0 {
			buf.WriteByte(',')
		}
		b = plate.AppendJSON(b[:0], &reads[i])
		buf.Write(b)
	}
	buf.WriteString(`],"next":`)
	buf.Write(strconv.AppendQuote(nil, next))
	buf.WriteString("}\n")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

func timeParam(v, name string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badRequest("bad_time", name+" must be an RFC 3339 time")
	}
	return t, nil
}
