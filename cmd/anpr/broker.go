package main

import (
	"github.com/spf13/cobra"

	"github.com/anpr/anpr/internal/broker"
)

func newBrokerCmd(g *globalFlags) *cobra.Command {
	var opts broker.Options
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded Kafka-protocol broker alone",
		Long: `Run the embedded Kafka-protocol broker (kfake) alone, with the default
topics created, until interrupted. Any Kafka client can use it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Logger = g.logger()
			opts.Topics = seededTopics(defaultTopics)
			opts.Compacted = []string{defaultTopics.Hotlists}
			b, err := broker.Start(opts)
			if err != nil {
				return err
			}
			<-cmd.Context().Done()
			return b.Close()
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:9092", "address to listen on")
	cmd.Flags().StringVar(&opts.DataDir, "data-dir", "", "persist topics and offsets here (default: in memory)")
	cmd.Flags().IntVar(&opts.Partitions, "partitions", 12, "partitions of each topic")
	return cmd
}
