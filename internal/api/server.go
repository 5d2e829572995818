// Package api serves the HTTP API of SPEC §8: health, metrics, read ingest
// for gateways, hits (paginated and live), and passages.
//
// Every route is declared once in routes() with the roles allowed to call
// it; Config.Auth is the single place access control plugs in, and every
// investigative request is checked by its guard-rails and recorded in the
// audit trail before it is answered (investigate, audited).
package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/anpr/anpr/ingest"
	"github.com/anpr/anpr/internal/audit"
	"github.com/anpr/anpr/internal/auth"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/plate"
)

// Sections is what the section-control endpoints show. Safe for
// concurrent use.
type Sections interface {
	// SectionsJSON is the body of GET /api/v1/sections.
	SectionsJSON() []byte
	// SectionStatsJSON is the body of GET /api/v1/sections/{id}/stats, or
	// nil for an unknown section.
	SectionStatsJSON(id string) []byte
}

// Config configures the server.
type Config struct {
	// Listen is host:port; port 0 picks a free port (see Addr).
	Listen string
	// CertFile and KeyFile (PEM), when set, serve HTTPS only.
	CertFile, KeyFile string
	Store             *store.Store
	Gateway           *ingest.Gateway
	// Ready reports whether the pipeline is consuming.
	Ready    func() bool
	Gatherer prometheus.Gatherer
	// Auth authenticates callers and applies the investigator guard-rails;
	// nil lets every request through as "anonymous" with the route's roles
	// (tests and benchmarks only: cmd/anpr always sets it).
	Auth *auth.Authenticator
	// Audit records investigative queries; nil records nothing (tests).
	Audit *audit.Log
	// Sections answers the section-control endpoints; nil: none configured.
	Sections Sections
	// Hotlists answers the admin hotlist endpoints; nil: every list is
	// unknown.
	Hotlists Hotlists
	// Cameras is the camera registry, for trajectories; not changed after
	// New.
	Cameras map[string]plate.Camera
	// MaxBody caps request bodies; default 16 MiB.
	MaxBody int64
	// MaxImportBody caps a CSV import, which may be far larger than other
	// bodies (about 100 bytes per entry, held in memory while it is
	// checked); default 256 MiB, about 2.5 M entries.
	MaxImportBody int64
	// StreamWriteTimeout cuts off a live-stream client that has not taken
	// an event within it (it stopped reading), so it holds nothing up;
	// default 10 s.
	StreamWriteTimeout time.Duration
	Logger             *slog.Logger
	Registerer         prometheus.Registerer
}

// Server is the HTTP API.
type Server struct {
	cfg Config
	ln  net.Listener
	srv *http.Server
	m   *metrics
}

// New returns a server; it neither listens nor starts goroutines.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 16 << 20
	}
	if cfg.MaxImportBody <= 0 {
		cfg.MaxImportBody = 256 << 20
	}
	if cfg.StreamWriteTimeout <= 0 {
		cfg.StreamWriteTimeout = 10 * time.Second
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.DefaultGatherer
	}
	s := &Server{cfg: cfg, m: newMetrics(cfg.Registerer)}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s
}

// Listen binds the address, so that Addr is known before Serve, and loads
// the certificate, so that a bad one fails the start.
func (s *Server) Listen() error {
	var tc *tls.Config
	if s.cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.CertFile, s.cfg.KeyFile)
		if err != nil {
			return fmt.Errorf("https certificate: %w", err)
		}
		tc = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", s.cfg.Listen, err)
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	s.ln = ln
	return nil
}

// Addr is the bound address after Listen.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Serve serves until ctx is done, then shuts down gracefully (live streams
// are cut) and returns when every handler has returned.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	baseCtx, cancelStreams := context.WithCancel(context.Background())
	s.srv.BaseContext = func(net.Listener) context.Context { return baseCtx }
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		cancelStreams()
		return err
	case <-ctx.Done():
	}
	cancelStreams()
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(shutCtx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// Close releases the listener of a server that never served; after Serve
// it is a no-op.
func (s *Server) Close() error {
	if s.ln == nil {
		return nil
	}
	if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// importPattern has its own body cap, Config.MaxImportBody.
const importPattern = "/api/v1/hotlists/{list}/import"

type route struct {
	method, pattern string
	// roles that may call it; nil means open to anyone (health, metrics).
	roles   []string
	handler http.HandlerFunc
}

// routes is the one table of endpoints and who may call them.
func (s *Server) routes() []route {
	return []route{
		{"GET", "/healthz", nil, s.healthz},
		{"GET", "/readyz", nil, s.readyz},
		{"GET", "/metrics", nil, promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}).ServeHTTP},
		{"POST", "/api/v1/reads", []string{auth.RoleGateway, auth.RoleAdmin}, s.postReads},
		{"GET", "/api/v1/hits", []string{auth.RoleDispatch, auth.RoleAdmin}, s.listHits},
		{"GET", "/api/v1/hits/stream", []string{auth.RoleDispatch, auth.RoleAdmin}, s.streamHits},
		{"POST", "/api/v1/hits/{id}/ack", []string{auth.RoleDispatch, auth.RoleAdmin}, s.ackHit},
		{"GET", "/api/v1/violations", []string{auth.RoleEnforcement, auth.RoleAdmin}, s.listViolations},
		{"GET", "/api/v1/sections", []string{auth.RoleEnforcement, auth.RoleAdmin}, s.listSections},
		{"GET", "/api/v1/sections/{id}/stats", []string{auth.RoleEnforcement, auth.RoleAdmin}, s.sectionStats},
		{"GET", "/api/v1/passages", []string{auth.RoleInvestigator}, s.listPassages},
		{"GET", "/api/v1/plates/{plate}/trajectory", []string{auth.RoleInvestigator}, s.trajectory},
		{"GET", "/api/v1/plates/{plate}/cotravel", []string{auth.RoleInvestigator}, s.cotravel},
		{"GET", "/api/v1/audit", []string{auth.RoleAuditor, auth.RoleAdmin}, s.listAudit},
		{"GET", "/api/v1/hotlists", []string{auth.RoleAdmin}, s.listHotlists},
		{"GET", "/api/v1/hotlists/{list}/entries", []string{auth.RoleAdmin}, s.hotlistEntries},
		{"POST", "/api/v1/hotlists/{list}/entries", []string{auth.RoleAdmin}, s.putEntries},
		{"DELETE", "/api/v1/hotlists/{list}/entries/{plate}", []string{auth.RoleAdmin}, s.deleteEntry},
		{"POST", importPattern, []string{auth.RoleAdmin}, s.importCSV},
	}
}

// Handler returns the API's handler (routing, authorization, panic
// recovery, metrics).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.method+" "+rt.pattern, s.wrap(rt))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "not_found", Msg: "no such endpoint"})
	})
	return mux
}

type principalKey struct{}

// principal returns the caller of a request that passed authorization.
func principal(ctx context.Context) auth.Principal {
	p, _ := ctx.Value(principalKey{}).(auth.Principal)
	return p
}

func (s *Server) wrap(rt route) http.Handler {
	label := rt.method + " " + rt.pattern
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.m.panics.Inc()
				s.cfg.Logger.Error("handler panic", "route", label, "panic", fmt.Sprint(v))
				if !sw.wrote {
					writeError(sw, &Error{Status: http.StatusInternalServerError, Code: "internal", Msg: "internal error"})
				}
			}
			s.m.requests.WithLabelValues(label, strconv.Itoa(sw.status)).Inc()
			s.m.duration.WithLabelValues(label).Observe(time.Since(start).Seconds())
		}()
		if rt.roles != nil {
			p := auth.Principal{Name: "anonymous", Roles: rt.roles}
			if s.cfg.Auth != nil {
				var err error
				if p, err = s.cfg.Auth.Authorize(r, rt.roles); err != nil {
					writeError(sw, err)
					return
				}
			}
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		}
		limit := s.cfg.MaxBody
		if rt.pattern == importPattern {
			limit = s.cfg.MaxImportBody
		}
		r.Body = http.MaxBytesReader(sw, r.Body, limit)
		rt.handler(sw, r)
	})
}

// statusWriter records the status for metrics. It forwards Flush and
// Unwrap so streaming and http.ResponseController keep working.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	w.wrote = true
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil && !s.cfg.Ready() {
		writeError(w, &Error{Status: http.StatusServiceUnavailable, Code: "not_ready", Msg: "not consuming: consumer group not joined"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
