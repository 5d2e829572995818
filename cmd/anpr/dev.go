package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/anpr/anpr/engine"
	"github.com/anpr/anpr/internal/auth"
	"github.com/anpr/anpr/internal/broker"
	"github.com/anpr/anpr/internal/config"
	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/internal/simulate"
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
	tokens, err := devTokens(c)
	if err != nil {
		return err
	}
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
		for _, rt := range tokens {
			log.Info("dev token", "role", rt[0], "token", rt[1])
		}
		bearer := func(role string) string {
			for _, rt := range tokens {
				if rt[0] == role {
					return "curl -H 'Authorization: Bearer " + rt[1] + "' "
				}
			}
			return "curl "
		}
		log.Info("hits: " + bearer(auth.RoleDispatch) + base + "/api/v1/hits   live: add -N and /stream")
		log.Info("violations: " + bearer(auth.RoleEnforcement) + base + "/api/v1/violations")
		log.Info("passages: " + bearer(auth.RoleInvestigator) + "-H 'X-Case-Ref: PV/2026/0001' '" + base +
			"/api/v1/passages?plate=1-ABC-234&from=" + time.Now().UTC().AddDate(0, 0, -7).Format("2006-01-02") + "T00:00:00Z'")
		log.Info("metrics: curl " + base + "/metrics")
		if f.rate <= 0 {
			return
		}
		sc, err := simulate.FromConfig(c, f.rate)
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

// devTokens gives every role a working token for this dev run: those of
// dev-tokens.txt beside the configuration file ("role token" per line,
// matching users of the file's auth block), and for a role without one a
// new random token and a user "dev-<role>" added to c. It returns (role,
// token) pairs in auth.Roles order.
func devTokens(c *config.Config) ([][2]string, error) {
	known := map[string]string{}
	if c.File != "" {
		path := filepath.Join(filepath.Dir(c.File), "dev-tokens.txt")
		b, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for line := range strings.Lines(string(b)) {
			if f := strings.Fields(line); len(f) == 2 && !strings.HasPrefix(f[0], "#") {
				known[f[0]] = f[1]
			}
		}
	}
	var out [][2]string
	for _, role := range auth.Roles {
		tok, ok := known[role]
		if !ok || !slices.ContainsFunc(c.Auth.Users, func(u config.User) bool { return u.TokenSHA256 == auth.HashToken(tok) }) {
			var err error
			if tok, err = auth.NewToken(); err != nil {
				return nil, err
			}
			c.Auth.Users = append(c.Auth.Users, config.User{Name: "dev-" + role, Roles: []string{role}, TokenSHA256: auth.HashToken(tok)})
		}
		out = append(out, [2]string{role, tok})
	}
	return out, nil
}
