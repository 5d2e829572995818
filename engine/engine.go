package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anpr/anpr/hotlist"
	"github.com/anpr/anpr/ingest"
	"github.com/anpr/anpr/internal/api"
	"github.com/anpr/anpr/internal/audit"
	"github.com/anpr/anpr/internal/auth"
	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/matcher"
	"github.com/anpr/anpr/plate"
	"github.com/anpr/anpr/sectioncontrol"
)

// Topics names the Kafka topics (SPEC §2).
type Topics struct {
	Reads, DLQ, Hits, Violations, Hotlists string
}

// Hotlist is a configured list and the CSV file its entries come from.
type Hotlist struct {
	List matcher.List
	File string
	// Retro, when > 0, searches the passages stored this far back when an
	// entry is added to the list, and raises their hits (kind "retro").
	Retro time.Duration
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
	// Retention of passages; default 8760h. HitRetention and
	// ViolationRetention default to it.
	Retention, HitRetention, ViolationRetention time.Duration
	// EncryptionKey encrypts the store (see store.Options); nil: plain.
	EncryptionKey []byte
	// NoSync skips fdatasync on store writes (benchmarks only).
	NoSync bool
	// StoreFailCommit injects store failures (store.Options.FailCommit;
	// tests only).
	StoreFailCommit func() error
	Cameras         []plate.Camera
	Hotlists        []Hotlist
	// SectionControl configures section control; no sections, none. Its
	// Cameras are taken from Cameras.
	SectionControl sectioncontrol.Config
	// OCR is the confusion table; nil means plate.DefaultOCRTable.
	OCR *plate.OCRTable
	// HTTPListen is the API address; empty runs no HTTP server. With
	// HTTPCertFile and HTTPKeyFile it serves HTTPS only.
	HTTPListen, HTTPCertFile, HTTPKeyFile string
	// Auth authenticates API callers; nil lets every request through (tests
	// and benchmarks only).
	Auth       *auth.Authenticator
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
	audit    *audit.Log
	// follower and publisher are nil without a hotlists topic.
	follower  *hotlist.Follower
	publisher *hotlist.Publisher
	// sections and violations are nil without sections.
	sections   *sections
	violations *kclient.Writer
	api        *api.Server
	retro      *retro
	// matching is held for reading by a batch from its match to its store;
	// retro takes it, then lets go, to wait for the batches matched before
	// an entry was in force (their reads must be stored to be searched).
	matching sync.RWMutex
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

	if len(cfg.SectionControl.Sections) > 0 {
		if cfg.Topics.Violations == "" {
			return nil, errors.New("engine: sections need a violations topic")
		}
		scm, err := sectioncontrol.NewMetrics(cfg.Registerer)
		if err != nil {
			return nil, err
		}
		sc := cfg.SectionControl
		sc.Cameras = cfg.Cameras
		if e.sections, err = newSections(sc, scm, time.Now()); err != nil {
			return nil, err
		}
	}

	e.store, err = store.Open(store.Options{Dir: cfg.DataDir, Retention: cfg.Retention,
		HitRetention: cfg.HitRetention, ViolationRetention: cfg.ViolationRetention, EncryptionKey: cfg.EncryptionKey,
		NoSync: cfg.NoSync, FailCommit: cfg.StoreFailCommit, Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// The audit trail sits beside the store: DATA_DIR/audit/audit.log.
	if e.audit, err = audit.Open(filepath.Join(cfg.DataDir, "audit"), audit.Options{Logger: cfg.Logger}); err != nil {
		e.store.Close()
		return nil, fmt.Errorf("open audit trail: %w", err)
	}
	e.consumer, err = ingest.NewConsumer(ingest.Config{
		Kafka: cfg.Kafka, Group: cfg.Group, Topic: cfg.Topics.Reads, DLQTopic: cfg.Topics.DLQ,
		NewProcessor: e.newProcessor,
		KnownCamera:  func(id string) bool { _, ok := e.cameras[id]; return ok },
		Logger:       cfg.Logger, Registerer: cfg.Registerer,
	})
	if err != nil {
		e.store.Close()
		e.audit.Close()
		return nil, err
	}
	if cfg.Topics.Hotlists != "" {
		e.retro = newRetro(e, cfg.Hotlists)
		since, err := e.retro.since()
		hc := hotlist.Config{Kafka: cfg.Kafka, Topic: cfg.Topics.Hotlists, Lists: listNames(cfg.Hotlists),
			Added: e.retro.add, AddedSince: since, Logger: cfg.Logger, Registerer: cfg.Registerer}
		if err == nil {
			e.follower, err = hotlist.NewFollower(hc, m)
		}
		if err == nil {
			hc.Registerer = nil // the follower registered the metrics
			e.publisher, err = hotlist.NewPublisher(hc)
		}
		if err != nil {
			e.store.Close()
			e.audit.Close()
			return nil, err
		}
	}
	e.hits = cfg.Kafka.Writer(cfg.Topics.Hits)
	if e.sections != nil {
		e.violations = cfg.Kafka.Writer(cfg.Topics.Violations)
	}
	e.gateway = ingest.NewGateway(cfg.Kafka, cfg.Topics.Reads, cfg.Registerer)
	if cfg.HTTPListen != "" {
		e.api = api.New(api.Config{
			Listen: cfg.HTTPListen, CertFile: cfg.HTTPCertFile, KeyFile: cfg.HTTPKeyFile, Store: e.store, Gateway: e.gateway,
			Ready: e.Ready, Gatherer: cfg.Gatherer, Auth: cfg.Auth, Audit: e.audit,
			Sections: e.apiSections(), Hotlists: e.apiHotlists(), Cameras: e.cameras,
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

// Ready reports whether the engine is consuming, with its hotlists rebuilt
// from the topic. Safe for concurrent use.
func (e *Engine) Ready() bool {
	return (e.follower == nil || e.follower.Ready()) && e.consumer.Ready()
}

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
	if e.follower != nil {
		wg.Go(func() { fail("hotlist feed", e.follower.Run(ctx)) })
		wg.Go(func() { fail("retro hits", e.retro.run(ctx)) })
	}
	wg.Go(func() {
		defer close(consumerDone)
		// Reads are matched only against lists rebuilt from the topic.
		if e.follower != nil {
			if err := e.follower.WaitReady(ctx); err != nil {
				fail("hotlist feed", err)
				return
			}
		}
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
	var vErr error
	if e.violations != nil {
		vErr = e.violations.Close()
	}
	if e.publisher != nil {
		vErr = errors.Join(vErr, e.publisher.Close())
	}
	return errors.Join(apiErr, e.hits.Close(), vErr, e.gateway.Close(), e.audit.Close(), e.store.Close())
}

// hotlists is what the API's admin endpoints need: the matcher answers the
// questions, the publisher takes the changes (through the topic).
type hotlists struct {
	*matcher.Matcher
	*hotlist.Publisher
}

// apiHotlists avoids handing the API a typed nil.
func (e *Engine) apiHotlists() api.Hotlists {
	if e.publisher == nil {
		return nil
	}
	return hotlists{e.matcher, e.publisher}
}

func listNames(hs []Hotlist) []string {
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.List.Name
	}
	return names
}

// apiSections avoids handing the API a typed nil.
func (e *Engine) apiSections() api.Sections {
	if e.sections == nil {
		return nil
	}
	return e.sections
}
