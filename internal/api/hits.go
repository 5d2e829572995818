package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/anpr/anpr/internal/auth"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/plate"
)

// covertMark is how a covert hit's JSON says so (matcher.Hit.AppendJSON);
// no string value of a hit can contain it unescaped.
var covertMark = []byte(`"covert":true`)

// visible is the one place covert hits are kept from callers without the
// covert role: every listing and stream of hits goes through it.
func visible(p auth.Principal, hitJSON []byte) bool {
	return auth.HasRole(p, auth.RoleCovert) || !bytes.Contains(hitJSON, covertMark)
}

// appendEvent writes an event's JSON with its acknowledgement, if any, as
// a last "ack" member.
func appendEvent(buf *bytes.Buffer, ev *store.Event) {
	js := ev.JSON
	if ev.Annotation == nil || len(js) == 0 || js[len(js)-1] != '}' {
		buf.Write(js)
		return
	}
	buf.Write(js[:len(js)-1])
	buf.WriteString(`,"ack":`)
	buf.Write(ev.Annotation)
	buf.WriteByte('}')
}

// Hit outcomes (SPEC §5).
var outcomes = []string{"confirmed", "false_read", "not_found", "dismissed"}

// maxNote bounds an acknowledgement's note.
const maxNote = 2000

// ackHit serves POST /api/v1/hits/{id}/ack {"outcome":…,"note":…}: the
// acknowledgement is stored with the hit (a later one replaces it), shown
// in listings, counted by list and outcome, and audited.
func (s *Server) ackHit(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Outcome string `json:"outcome"`
		Note    string `json:"note"`
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, badRequest("bad_body", "want {\"outcome\":…,\"note\":…}"))
		return
	}
	if !slices.Contains(outcomes, req.Outcome) {
		writeError(w, badRequest("bad_outcome", "outcome must be one of "+strings.Join(outcomes, ", ")))
		return
	}
	if len(req.Note) > maxNote {
		writeError(w, badRequest("bad_note", "note longer than 2000 bytes"))
		return
	}
	p := principal(r.Context())
	id := r.PathValue("id")
	evs, err := s.cfg.Store.EventsByID(store.Hits, []string{id})
	if err != nil {
		s.cfg.Logger.Error("ack hit", "err", err)
		writeError(w, err)
		return
	}
	// A covert hit the caller may not see does not exist for it.
	if len(evs) == 0 || !visible(p, evs[0].JSON) {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "unknown_hit", Msg: "no hit with that id"})
		return
	}
	var hit struct {
		List string `json:"list"`
	}
	_ = json.Unmarshal(evs[0].JSON, &hit)
	ack := []byte(`{"outcome":`)
	ack = plate.AppendJSONString(ack, req.Outcome)
	ack = append(ack, `,"note":`...)
	ack = plate.AppendJSONString(ack, req.Note)
	ack = append(ack, `,"by":`...)
	ack = plate.AppendJSONString(ack, p.Name)
	ack = append(ack, `,"at":"`...)
	ack = plate.AppendTime(ack, time.Now())
	ack = append(ack, `"}`...)
	if !s.audited(w, r, auth.Case{}, "hit.ack", 1, http.StatusOK) {
		return
	}
	if err := s.cfg.Store.Annotate(store.Hits, id, ack); err != nil {
		if errors.Is(err, store.ErrNotFound) { // expired in between
			writeError(w, &Error{Status: http.StatusNotFound, Code: "unknown_hit", Msg: "no hit with that id"})
			return
		}
		s.cfg.Logger.Error("ack hit", "err", err)
		writeError(w, err)
		return
	}
	s.m.acks.WithLabelValues(hit.List, req.Outcome).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(ack, '\n'))
}
