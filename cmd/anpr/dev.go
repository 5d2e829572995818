package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/spf13/cobra"

	"github.com/anpr/anpr/engine"
	"github.com/anpr/anpr/internal/broker"
	"github.com/anpr/anpr/internal/config"
	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/internal/simulate"
	"github.com/anpr/anpr/matcher"
)

type devFlags struct {
	config      string
	kafkaListen string
	httpListen  string
	dataDir     string
	rate        float64
}

func newDevCmd(g *globalFlags) *cobra.Command {
	var f devFlags
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything on this machine: embedded broker, sample network, simulated traffic, API",
		Long: `Run the whole system on one machine: the embedded Kafka-protocol broker, the
pipeline on the sample network of testdata/, a traffic simulator and the API.
With its flags a test runs it on free ports against its own configuration.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), g.logger(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "testdata/anpr.yaml", "configuration file (its kafka.brokers, http.listen and data_dir are replaced by the flags)")
	fl.StringVar(&f.kafkaListen, "kafka-listen", "127.0.0.1:9092", "address of the embedded broker")
	fl.StringVar(&f.httpListen, "http-listen", "127.0.0.1:8080", "API address")
	fl.StringVar(&f.dataDir, "data-dir", "data/dev", "directory for the store and the broker's log")
	fl.Float64Var(&f.rate, "simulate", 200, "simulated reads per second (0: none)")
	return cmd
}

func runDev(ctx context.Context, log *slog.Logger, f devFlags) error {
	c, err := config.Load(f.config)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.dataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	t := c.Kafka.Topics
	b, err := broker.Start(broker.Options{
		Listen:    f.kafkaListen,
		DataDir:   filepath.Join(f.dataDir, "broker"),
		Topics:    seededTopics(engine.Topics{Reads: t.Reads, DLQ: t.DLQ, Hits: t.Hits, Violations: t.Violations}),
		Compacted: []string{t.Hotlists},
		Logger:    log,
	})
	if err != nil {
		return err
	}
	defer b.Close()
	c.Kafka.Brokers = []string{b.Addr()}
	c.Kafka.TLS, c.Kafka.SASL = nil, nil
	c.HTTP.Listen = f.httpListen
	c.DataDir = filepath.Join(f.dataDir, "store")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	started := func(e *engine.Engine) {
		base := "http://" + e.APIAddr()
		log.Info("anpr dev is up", "kafka", b.Addr(), "api", base)
		log.Info("hits: curl " + base + "/api/v1/hits   live: curl -N " + base + "/api/v1/hits/stream")
		log.Info("passages: curl '" + base + "/api/v1/passages?plate=1-ABC-234'   metrics: curl " + base + "/metrics")
		if f.rate <= 0 {
			return
		}
		sc, err := simulation(c, f.rate)
		if err != nil {
			log.Error("simulator not started", "err", err)
			return
		}
		wg.Go(func() {
			w := kclient.Config{Brokers: c.Kafka.Brokers}.Writer(t.Reads)
			defer w.Close()
			if err := simulate.Run(ctx, sc, w.Writer, log); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("simulator stopped", "err", err)
			}
		})
		log.Info("simulating camera traffic", "reads_per_s", f.rate)
	}
	err = runEngine(ctx, log, c, started)
	cancel()
	return err
}

// simulation builds simulator settings for the network and hotlists of c.
func simulation(c *config.Config, rate float64) (simulate.Config, error) {
	sc := simulate.Config{Cameras: c.Cameras(), Rate: rate}
	for _, s := range c.Sections {
		sc.Sections = append(sc.Sections, simulate.Section{ID: s.ID, Entry: s.Entry, Exit: s.Exit, LengthM: s.LengthM, LimitKmh: s.LimitKmh})
	}
	for _, h := range c.Hotlists {
		if h.File == "" {
			continue
		}
		f, err := os.Open(h.File)
		if err != nil {
			return sc, err
		}
		entries, _, err := matcher.ReadCSV(f)
		f.Close()
		if err != nil {
			return sc, fmt.Errorf("hotlist %q: %w", h.File, err)
		}
		for _, e := range entries {
			sc.Listed = append(sc.Listed, e.Plate)
		}
	}
	return sc, nil
}
