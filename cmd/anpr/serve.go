package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/anpr/anpr/engine"
	"github.com/anpr/anpr/internal/config"
)

// overrides are the flags that replace configuration values.
type overrides struct {
	brokers    []string
	httpListen string
	dataDir    string
}

func (o *overrides) apply(c *config.Config) {
	if len(o.brokers) > 0 {
		c.Kafka.Brokers = o.brokers
	}
	if o.httpListen != "" {
		c.HTTP.Listen = o.httpListen
	}
	if o.dataDir != "" {
		c.DataDir = o.dataDir
	}
}

func newServeCmd(g *globalFlags) *cobra.Command {
	var (
		path string
		o    overrides
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the pipeline and the API against a Kafka cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := config.Load(path)
			if err != nil {
				return err
			}
			o.apply(c)
			return runEngine(cmd.Context(), g.logger(), c, nil)
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "configuration file (required)")
	_ = cmd.MarkFlagRequired("config")
	cmd.Flags().StringSliceVar(&o.brokers, "brokers", nil, "Kafka brokers, overriding kafka.brokers")
	cmd.Flags().StringVar(&o.httpListen, "http-listen", "", "API address, overriding http.listen")
	cmd.Flags().StringVar(&o.dataDir, "data-dir", "", "data directory, overriding data_dir")
	return cmd
}

// runEngine opens and runs the engine of c until ctx is done. started, when
// non-nil, is called once the API listens.
func runEngine(ctx context.Context, log *slog.Logger, c *config.Config, started func(*engine.Engine)) error {
	ec, err := engineConfig(c)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ec.Logger, ec.Registerer, ec.Gatherer = log, reg, reg
	e, err := engine.Open(ec)
	if err != nil {
		return err
	}
	if started != nil {
		started(e)
	}
	err = e.Run(ctx)
	if cerr := e.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close: %w", cerr))
	}
	if err == nil {
		log.Info("stopped cleanly")
	}
	return err
}
