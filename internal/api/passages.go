package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/anpr/anpr/internal/auth"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/plate"
)

// Bounds of investigative windows (README "Investigators"): a camera or
// pattern query reads its index once per hour or day of the window, so
// those windows are bounded; a plate's history is one range scan and is not.
const (
	maxCameraWindow  = 31 * 24 * time.Hour
	maxPatternWindow = 92 * 24 * time.Hour
	// maxTrajectory bounds the points of one trajectory.
	maxTrajectory = 10000
	maxWithin     = 10 * time.Minute
)

// earliest is the earliest time a window may name: nothing older was ever
// captured by this system.
var earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// window parses ?from= and ?to=. It refuses a window that is inverted, that
// names a time before 2000 or more than a day ahead, or (span > 0) that is
// longer than span or has no from.
func window(r *http.Request, span time.Duration, what string) (from, to time.Time, err error) {
	q := r.URL.Query()
	if from, err = timeParam(q.Get("from"), "from"); err != nil {
		return
	}
	if to, err = timeParam(q.Get("to"), "to"); err != nil {
		return
	}
	latest := time.Now().Add(24 * time.Hour)
	for _, t := range []time.Time{from, to} {
		if !t.IsZero() && (t.Before(earliest) || t.After(latest)) {
			return from, to, badRequest("bad_window", "from and to must lie between 2000-01-01 and a day from now")
		}
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return from, to, badRequest("bad_window", "from must be before to")
	}
	if span > 0 {
		if from.IsZero() {
			return from, to, badRequest("bad_window", fmt.Sprintf("a %s search needs from (and to, default now); its window is at most %s", what, days(span)))
		}
		if end := cmp.Or(to, time.Now()); end.Sub(from) > span {
			return from, to, badRequest("bad_window", fmt.Sprintf("a %s search covers at most %s: narrow from and to", what, days(span)))
		}
	}
	return from, to, nil
}

func days(d time.Duration) string { return strconv.Itoa(int(d/(24*time.Hour))) + " days" }

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

func boolParam(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, badRequest("bad_"+name, name+" must be true or false")
}

// listPassages serves GET /api/v1/passages: by exact plate (?plate=), by
// pattern (?plate= with ? or *, or with ?ocr=true), or by camera (?camera=,
// with a window), in time order with a cursor.
func (s *Server) listPassages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	raw, camera := q.Get("plate"), q.Get("camera")
	ocrAware, err := boolParam(r, "ocr")
	if err != nil {
		writeError(w, err)
		return
	}
	pattern := strings.ContainsAny(raw, "?*") || ocrAware && raw != ""
	var query func(from, to time.Time, limit int) ([]plate.Read, string, error)
	span, what := time.Duration(0), ""
	switch {
	case raw != "" && camera != "":
		writeError(w, badRequest("bad_query", "give plate or camera, not both"))
		return
	case raw == "" && camera == "":
		writeError(w, badRequest("bad_query", "give plate (exact, or a pattern with ? and *) or camera with a window"))
		return
	case camera != "":
		if len(camera) > 64 {
			writeError(w, badRequest("bad_camera", "camera must be a camera id of at most 64 characters"))
			return
		}
		span, what = maxCameraWindow, "camera"
		query = func(from, to time.Time, limit int) ([]plate.Read, string, error) {
			return s.cfg.Store.CameraPassages(store.CameraQuery{Camera: camera, From: from, To: to, After: q.Get("after"), Limit: limit})
		}
	case pattern:
		pat, err := store.CompilePattern(raw)
		if err != nil {
			writeError(w, badRequest("bad_pattern", err.Error()))
			return
		}
		span, what = maxPatternWindow, "pattern"
		query = func(from, to time.Time, limit int) ([]plate.Read, string, error) {
			return s.cfg.Store.PatternPassages(store.PatternQuery{Pattern: pat, OCR: ocrAware, From: from, To: to, After: q.Get("after"), Limit: limit})
		}
	default:
		norm, ok := plate.Normalize(raw)
		if !ok {
			writeError(w, badRequest("bad_plate", "plate must have 2 to 12 letters or digits"))
			return
		}
		query = func(from, to time.Time, limit int) ([]plate.Read, string, error) {
			return s.cfg.Store.Passages(store.PassageQuery{Plate: norm, From: from, To: to, After: q.Get("after"), Limit: limit})
		}
	}
	from, to, err := window(r, span, what)
	if err != nil {
		writeError(w, err)
		return
	}
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	c, ok := s.investigate(w, r, "passages.query", from)
	if !ok {
		return
	}
	reads, next, err := query(from, to, limit)
	if err != nil {
		s.storeError(w, r, c, "passages.query", err)
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
	if !s.audited(w, r, c, "passages.query", len(reads), http.StatusOK) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

// storeError answers a failed query: a cursor this server did not hand out
// is the caller's 400 (and audited as such), anything else a 500.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, c auth.Case, action string, err error) {
	if errors.Is(err, store.ErrBadCursor) {
		if s.audited(w, r, c, action, 0, http.StatusBadRequest) {
			writeError(w, badRequest("bad_cursor", "after is not a cursor this server gave out for this query"))
		}
		return
	}
	s.cfg.Logger.Error("investigative query", "action", action, "err", err)
	writeError(w, err)
}

// plateWindow is the normalized {plate} of the path and the window of the
// query, or false with a 400 answered.
func plateWindow(w http.ResponseWriter, r *http.Request) (norm string, from, to time.Time, ok bool) {
	norm, ok = plate.Normalize(r.PathValue("plate"))
	if !ok {
		writeError(w, badRequest("bad_plate", "plate must have 2 to 12 letters or digits"))
		return
	}
	from, to, err := window(r, 0, "")
	if err != nil {
		writeError(w, err)
		return norm, from, to, false
	}
	return norm, from, to, true
}

// GeoJSON types of the trajectory (RFC 7946).
type (
	featureCollection struct {
		Type      string    `json:"type"`
		Features  []feature `json:"features"`
		Truncated bool      `json:"truncated"`
	}
	feature struct {
		Type       string         `json:"type"`
		Geometry   *geometry      `json:"geometry"`
		Properties map[string]any `json:"properties"`
	}
	geometry struct {
		Type        string `json:"type"`
		Coordinates any    `json:"coordinates"`
	}
)

// trajectory serves GET /api/v1/plates/{plate}/trajectory?from=&to=: a
// Point feature per passage (camera, time; a camera missing from the
// registry gives a null geometry) in time order, then the LineString
// through the located ones, coordinates [lon, lat] from the registry.
func (s *Server) trajectory(w http.ResponseWriter, r *http.Request) {
	norm, from, to, ok := plateWindow(w, r)
	if !ok {
		return
	}
	const action = "plates.trajectory"
	c, ok := s.investigate(w, r, action, from)
	if !ok {
		return
	}
	fc := featureCollection{Type: "FeatureCollection", Features: []feature{}}
	var line [][2]float64
	page := func(after string) ([]plate.Read, string, error) {
		return s.cfg.Store.Passages(store.PassageQuery{Plate: norm, From: from, To: to, After: after, Limit: 1000})
	}
	err := store.EachPage(page, func(rd plate.Read) error {
		if len(fc.Features) == maxTrajectory {
			fc.Truncated = true
			return store.ErrStop
		}
		f := feature{Type: "Feature", Properties: map[string]any{
			"camera": rd.CameraID, "ts": string(plate.AppendTime(nil, rd.TS)), "read_id": rd.ReadID}}
		if cam, ok := s.cfg.Cameras[rd.CameraID]; ok {
			pt := [2]float64{cam.Lon, cam.Lat}
			f.Geometry = &geometry{Type: "Point", Coordinates: pt}
			f.Properties["camera_name"] = cam.Name
			line = append(line, pt)
		}
		fc.Features = append(fc.Features, f)
		return nil
	})
	if err != nil {
		s.storeError(w, r, c, action, err)
		return
	}
	points := len(fc.Features)
	if len(line) > 0 {
		// RFC 7946 wants two positions in a LineString.
		if len(line) == 1 {
			line = append(line, line[0])
		}
		fc.Features = append(fc.Features, feature{Type: "Feature", Geometry: &geometry{Type: "LineString", Coordinates: line},
			Properties: map[string]any{"plate": norm, "points": len(line)}})
	}
	s.answerJSON(w, r, c, action, points, fc)
}

// answerJSON audits and answers v.
func (s *Server) answerJSON(w http.ResponseWriter, r *http.Request, c auth.Case, action string, results int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, err)
		return
	}
	if !s.audited(w, r, c, action, results, http.StatusOK) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(body, '\n'))
}

// cotravel serves GET /api/v1/plates/{plate}/cotravel?from=&to=&within=60s&min_cameras=3&limit=.
func (s *Server) cotravel(w http.ResponseWriter, r *http.Request) {
	norm, from, to, ok := plateWindow(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	within := time.Minute
	var err error
	if v := q.Get("within"); v != "" {
		if within, err = time.ParseDuration(v); err != nil || within < time.Second || within > maxWithin {
			writeError(w, badRequest("bad_within", "within must be a duration from 1s to 10m, like 60s"))
			return
		}
	}
	minCams := 3
	if v := q.Get("min_cameras"); v != "" {
		if minCams, err = strconv.Atoi(v); err != nil || minCams < 1 || minCams > 1000 {
			writeError(w, badRequest("bad_min_cameras", "min_cameras must be an integer from 1 to 1000"))
			return
		}
	}
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	const action = "plates.cotravel"
	c, ok := s.investigate(w, r, action, from)
	if !ok {
		return
	}
	res, err := s.cfg.Store.CoTravel(store.CoTravelQuery{Plate: norm, From: from, To: to, Within: within, MinCameras: minCams})
	if err != nil {
		s.storeError(w, r, c, action, err)
		return
	}
	type traveller struct {
		Plate     string   `json:"plate"`
		Cameras   int      `json:"cameras"`
		Sightings int      `json:"sightings"`
		CameraIDs []string `json:"camera_ids"`
		First     string   `json:"first"`
		Last      string   `json:"last"`
	}
	out := struct {
		Plate       string      `json:"plate"`
		Passages    int         `json:"passages"`
		Truncated   bool        `json:"truncated"`
		Travellers  []traveller `json:"cotravellers"`
		WithinS     float64     `json:"within_s"`
		MinCameras  int         `json:"min_cameras"`
		MoreResults bool        `json:"more"`
	}{Plate: norm, Passages: res.Targets, Truncated: res.Truncated, Travellers: []traveller{}, WithinS: within.Seconds(), MinCameras: minCams}
	for i, t := range res.Travellers {
		if i == limit {
			out.MoreResults = true
			break
		}
		out.Travellers = append(out.Travellers, traveller{t.Plate, len(t.Cameras), t.Sightings, t.Cameras,
			string(plate.AppendTime(nil, t.First)), string(plate.AppendTime(nil, t.Last))})
	}
	s.answerJSON(w, r, c, action, len(out.Travellers), out)
}
