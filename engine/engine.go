package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anpr/anpr/ingest"
	"github.com/anpr/anpr/internal/api"
	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/matcher"
	"github.com/anpr/anpr/plate"
)

// Topics names the Kafka topics (SPEC §2).
type Topics struct {
	Reads, DLQ, Hits, Violations, Hotlists string
}

// Hotlist is a configured list and the CSV file its entries come from.
type Hotlist struct {
	List matcher.List
	File string
}

// Config is everything the engine needs; cmd/anpr builds it from the YAML
// configuration. Zero values mean the defaults given.
type Config struct {
	Kafka kclient.Config
	// Group is the consumer group; default "anpr".
	Group  string
	Topics Topics
	// DataDir holds the Badger store.
	DataDir string
	// Retention of passages and hits; default 8760h.
	Retention time.Duration
	// NoSync skips fdatasync on store writes (benchmarks only).
	NoSync   bool
	Cameras  []plate.Camera
	Hotlists []Hotlist
	// OCR is the confusion table; nil means plate.DefaultOCRTable.
	OCR *plate.OCRTable
	// HTTPListen is the API address; empty runs no HTTP server.
	HTTPListen string
	// Authorize is the access-control seam of the API; nil allows all.
	Authorize  api.Authorizer
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
}

// Engine is the running pipeline. Open it, Run it, Close it.
type Engine struct {
	cfg      Config
	log      *slog.Logger
	store    *store.Store
	matcher  *matcher.Matcher
	consumer *ingest.Consumer
	gateway  *ingest.Gateway
	hits     *kclient.Writer
	api      *api.Server
	m        *metrics
	cameras  map[string]plate.Camera
	closed   atomic.Bool
}

// Open validates cfg, opens the store, loads the hotlists and prepares the
// consumer and the API. It starts no goroutines.
func Open(cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Group == "" {
		cfg.Group = "anpr"
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 8760 * time.Hour
	}
	if cfg.Topics.Reads == "" || cfg.Topics.DLQ == "" || cfg.Topics.Hits == "" {
		return nil, errors.New("engine: reads, dlq and hits topics are required")
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, m: newMetrics(cfg.Registerer),
		cameras: make(map[string]plate.Camera, len(cfg.Cameras))}
	for _, c := range cfg.Cameras {
		e.cameras[c.ID] = c
	}

	lists := make([]matcher.List, len(cfg.Hotlists))
	for i, h := range cfg.Hotlists {
		lists[i] = h.List
	}
	m, err := matcher.New(lists, matcher.Options{OCR: cfg.OCR, Registerer: cfg.Registerer, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("matcher: %w", err)
	}
	entries, err := loadHotlists(cfg.Hotlists, cfg.Logger)
	if err != nil {
		return nil, err
	}
	if err := m.Load(entries); err != nil {
		return nil, fmt.Errorf("load hotlists: %w", err)
	}
	e.matcher = m

	e.store, err = store.Open(store.Options{Dir: cfg.DataDir, Retention: cfg.Retention,
		NoSync: cfg.NoSync, Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	e.consumer, err = ingest.NewConsumer(ingest.Config{
		Kafka: cfg.Kafka, Group: cfg.Group, Topic: cfg.Topics.Reads, DLQTopic: cfg.Topics.DLQ,
		NewProcessor: e.newProcessor,
		KnownCamera:  func(id string) bool { _, ok := e.cameras[id]; return ok },
		Logger:       cfg.Logger, Registerer: cfg.Registerer,
	})
	if err != nil {
		e.store.Close()
		return nil, err
	}
	e.hits = cfg.Kafka.Writer(cfg.Topics.Hits)
	e.gateway = ingest.NewGateway(cfg.Kafka, cfg.Topics.Reads, cfg.Registerer)
	if cfg.HTTPListen != "" {
		e.api = api.New(api.Config{
			Listen: cfg.HTTPListen, Store: e.store, Gateway: e.gateway,
			Ready: e.consumer.Ready, Gatherer: cfg.Gatherer, Authorize: cfg.Authorize,
			Logger: cfg.Logger, Registerer: cfg.Registerer,
		})
		// Bind now so the address is known (and a busy port fails) before Run.
		if err := e.api.Listen(); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

func loadHotlists(lists []Hotlist, log *slog.Logger) ([]matcher.Entry, error) {
	var all []matcher.Entry
	for _, h := range lists {
		if h.File == "" {
			continue
		}
		f, err := os.Open(h.File)
		if err != nil {
			return nil, fmt.Errorf("open hotlist %q: %w", h.File, err)
		}
		entries, bad, err := matcher.ReadCSV(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read hotlist %q: %w", h.File, err)
		}
		for _, b := range bad {
			log.Warn("hotlist row skipped", "file", h.File, "line", b.Line, "field", b.Field, "reason", b.Reason)
		}
		for i := range entries {
			if entries[i].List == "" {
				entries[i].List = h.List.Name
			}
			if entries[i].List != h.List.Name {
				return nil, fmt.Errorf("hotlist %q: entry of list %q in the file of list %q", h.File, entries[i].List, h.List.Name)
			}
		}
		log.Info("hotlist loaded", "list", h.List.Name, "entries", len(entries), "skipped", len(bad))
		all = append(all, entries...)
	}
	return all, nil
}

// Ready reports whether the engine is consuming. Safe for concurrent use.
func (e *Engine) Ready() bool { return e.consumer.Ready() }

// Matcher is the engine's matcher, for tests and benchmarks.
func (e *Engine) Matcher() *matcher.Matcher { return e.matcher }

// Store is the engine's store, for tests and benchmarks.
func (e *Engine) Store() *store.Store { return e.store }

// APIAddr is the address the API listens on, or "" without an API.
func (e *Engine) APIAddr() string {
	if e.api == nil {
		return ""
	}
	return e.api.Addr()
}

// Run runs the pipeline until ctx is done or a part fails, and returns when
// every goroutine it started has exited. The first failure is returned.
func (e *Engine) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(name string, err error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			errOnce.Do(func() { firstErr = fmt.Errorf("%s: %w", name, err) })
		}
		cancel()
	}
	// The API outlives the consumer so readiness and queries answer while
	// the last batches drain; it stops when the consumer has stopped.
	consumerDone := make(chan struct{})
	if e.api != nil {
		wg.Go(func() {
			apiCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
			go func() {
				select {
				case <-consumerDone:
				case <-ctx.Done():
					<-consumerDone
				}
				stop()
			}()
			fail("http", e.api.Serve(apiCtx))
		})
	}
	wg.Go(func() { fail("store maintenance", e.store.Run(ctx)) })
	wg.Go(func() {
		defer close(consumerDone)
		fail("ingest", e.consumer.Run(ctx))
	})
	wg.Wait()
	return firstErr
}

// Close releases the writers and closes the store. Call it after Run has
// returned. It is idempotent.
func (e *Engine) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return nil
	}
	var apiErr error
	if e.api != nil {
		apiErr = e.api.Close()
	}
	return errors.Join(apiErr, e.hits.Close(), e.gateway.Close(), e.store.Close())
}
