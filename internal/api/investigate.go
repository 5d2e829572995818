package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/anpr/anpr/internal/audit"
	"github.com/anpr/anpr/internal/auth"
)

// investigate applies the investigator guard-rails (case reference, the
// prosecutor's approval past the free-search age, rate limit) to a request
// that can return data as old as reach (zero: unbounded). A refusal is
// answered, recorded in the audit trail, and false returned.
func (s *Server) investigate(w http.ResponseWriter, r *http.Request, action string, reach time.Time) (auth.Case, bool) {
	// What the caller sent, for the record of a refusal (cut to a
	// reference's length: a header can be far longer than an audit line).
	sent := auth.Case{Ref: r.Header.Get(auth.HeaderCaseRef), Approval: r.Header.Get(auth.HeaderApprovalRef)}
	sent.Ref, sent.Approval = sent.Ref[:min(len(sent.Ref), auth.MaxRefLen)], sent.Approval[:min(len(sent.Approval), auth.MaxRefLen)]
	if s.cfg.Auth == nil {
		return sent, true
	}
	c, err := s.cfg.Auth.Guard(principal(r.Context()), r, reach, time.Now())
	if err == nil {
		return c, true
	}
	var ae *auth.Error
	// A refused attempt is part of the record, not a flood of it.
	if errors.As(err, &ae) && ae.Status != http.StatusTooManyRequests && !s.audited(w, r, sent, action, 0, ae.Status) {
		return c, false // audited answered 503
	}
	writeError(w, err)
	return c, false
}

// audited appends the record of an investigative request about to be
// answered with status and results. When the trail cannot take it, the
// answer is withheld: 503, and false returned.
func (s *Server) audited(w http.ResponseWriter, r *http.Request, c auth.Case, action string, results, status int) bool {
	if s.cfg.Audit == nil {
		return true
	}
	p := principal(r.Context())
	_, err := s.cfg.Audit.Append(audit.Record{Who: p.Name, Roles: p.Roles, Action: action,
		CaseRef: c.Ref, ApprovalRef: c.Approval, Query: r.URL.RequestURI(), Results: results, Status: status})
	if err != nil {
		s.cfg.Logger.Error("audit trail append failed; answer withheld", "action", action, "err", err)
		writeError(w, &Error{Status: http.StatusServiceUnavailable, Code: "audit_unavailable", Msg: "the audit trail cannot record this query; nothing is answered"})
		return false
	}
	return true
}

// listAudit serves GET /api/v1/audit?after=SEQ&limit=N.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Audit == nil {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "no_audit", Msg: "this server keeps no audit trail"})
		return
	}
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var after uint64
	if v := r.URL.Query().Get("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			writeError(w, badRequest("bad_cursor", "after must be the seq of an audit record"))
			return
		}
	}
	recs, err := s.cfg.Audit.Read(after, limit)
	if err != nil {
		s.cfg.Logger.Error("read audit trail", "err", err)
		writeError(w, err)
		return
	}
	next := after
	if len(recs) > 0 {
		next = recs[len(recs)-1].Seq
	}
	if recs == nil {
		recs = []audit.Record{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": recs, "next": strconv.FormatUint(next, 10)})
}
