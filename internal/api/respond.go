package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/anpr/anpr/internal/auth"
)

// Error is an API error: a status and a JSON body {"error":…,"code":…}.
type Error struct {
	Status int
	Code   string
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func badRequest(code, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Msg: msg}
}

// writeError answers err as JSON; anything but an *Error is a 500 that
// tells nothing of the internals.
func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if ae := (*auth.Error)(nil); errors.As(err, &ae) {
		ae.SetHeaders(w.Header())
		e = &Error{Status: ae.Status, Code: ae.Code, Msg: ae.Message}
	} else if !errors.As(err, &e) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			e = &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Msg: "request body too large"}
		} else {
			e = &Error{Status: http.StatusInternalServerError, Code: "internal", Msg: "internal error"}
		}
	}
	writeJSON(w, e.Status, map[string]string{"error": e.Msg, "code": e.Code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
