// Package broker runs the embedded Kafka-protocol broker (kfake) that
// `anpr dev`, `anpr broker` and the tests use. It is one process-local
// broker listening on real TCP; any Kafka client can talk to it.
package broker

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Options configures the embedded broker. The zero value listens on a free
// port, keeps everything in memory and creates no topics.
type Options struct {
	// Listen is host:port; empty or port 0 picks a free port.
	Listen string
	// DataDir, when set, persists topics and group offsets across restarts.
	DataDir string
	// Partitions is the partition count of seeded and auto-created topics;
	// default 12.
	Partitions int
	// Topics are created at start with Partitions partitions.
	Topics []string
	// Compacted are created at start as compacted topics (the hotlist feed).
	Compacted []string
	Logger    *slog.Logger
}

// Broker is a running embedded broker.
type Broker struct {
	c    *kfake.Cluster
	addr string
}

// Start starts the broker; it listens when Start returns.
func Start(opts Options) (*Broker, error) {
	host, port := "127.0.0.1", 0
	if opts.Listen != "" {
		h, p, err := net.SplitHostPort(opts.Listen)
		if err != nil {
			return nil, fmt.Errorf("broker listen address %q: %w", opts.Listen, err)
		}
		if h != "" {
			host = h
		}
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("broker listen port %q: %w", p, err)
		}
	}
	if opts.Partitions <= 0 {
		opts.Partitions = 12
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
		kfake.DefaultNumPartitions(opts.Partitions),
		kfake.AllowAutoTopicCreation(),
	}
	if len(opts.Topics) > 0 {
		kopts = append(kopts, kfake.SeedTopics(int32(opts.Partitions), opts.Topics...))
	}
	if opts.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(opts.DataDir))
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded broker: %w", err)
	}
	for _, t := range opts.Compacted {
		// A persisted broker already has it; CreateTopic then fails harmlessly.
		_ = c.CreateTopic(t, int32(opts.Partitions), map[string]string{"cleanup.policy": "compact"})
	}
	b := &Broker{c: c, addr: c.ListenAddrs()[0]}
	if opts.Logger != nil {
		opts.Logger.Info("embedded broker listening", "addr", b.addr, "data_dir", opts.DataDir)
	}
	return b, nil
}

// Addr is the host:port clients connect to.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker. It is safe to call more than once.
func (b *Broker) Close() error {
	b.c.Close()
	return nil
}
