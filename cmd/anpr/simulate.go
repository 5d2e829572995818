package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/anpr/anpr/internal/config"
	"github.com/anpr/anpr/internal/simulate"
)

func newSimulateCmd(g *globalFlags) *cobra.Command {
	var (
		path     string
		brokers  []string
		topic    string
		rate     float64
		duration time.Duration
		seed     uint64
	)
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Send realistic camera traffic for a network to any Kafka",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := config.Load(path)
			if err != nil {
				return err
			}
			if len(brokers) > 0 {
				c.Kafka.Brokers = brokers
			}
			kc, err := kafkaConfig(c.Kafka)
			if err != nil {
				return err
			}
			sc, err := simulate.FromConfig(c, rate)
			if err != nil {
				return err
			}
			sc.Seed = seed
			if topic == "" {
				topic = c.Kafka.Topics.Reads
			}
			ctx := cmd.Context()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			w := kc.Writer(topic)
			defer w.Close()
			err = simulate.Run(ctx, sc, w.Writer, g.logger())
			if ctx.Err() != nil {
				return nil
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&path, "config", "testdata/anpr.yaml", "configuration file with the camera network and hotlists")
	fl.StringSliceVar(&brokers, "brokers", nil, "Kafka brokers (default: the configuration's)")
	fl.StringVar(&topic, "topic", "", "topic to write to (default: the configuration's reads topic)")
	fl.Float64Var(&rate, "rate", 1000, "reads per second (mean over the day)")
	fl.DurationVar(&duration, "duration", 0, "stop after this long (0: until interrupted)")
	fl.Uint64Var(&seed, "seed", 1, "random seed: the same seed sends the same traffic")
	return cmd
}
