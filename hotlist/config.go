package hotlist

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/matcher"
)

// DefaultTopic is the hotlist topic of SPEC §2.
const DefaultTopic = "anpr.hotlists"

// DefaultMaxBatch is the default Config.MaxBatch.
const DefaultMaxBatch = 4096

// Config configures a Follower and a Publisher. Zero values mean the
// defaults given.
type Config struct {
	// Kafka says how to reach the cluster; Brokers is required.
	Kafka kclient.Config
	// Topic is the compacted hotlist topic; default DefaultTopic.
	Topic string
	// Lists are the list names a Publisher accepts; nil accepts any valid
	// name. A Follower takes the lists of its Matcher instead.
	Lists []string
	// MaxBatch caps the changes of one Apply once a Follower is ready;
	// default DefaultMaxBatch. While it replays the topic at start it
	// applies up to 131072 at once, because an Apply passes over every
	// shard it touches: small batches on a large list would rebuild the
	// index thousands of times.
	MaxBatch int
	// Added, when set, is called by a Follower with the entries put by the
	// changes it applied, after they are in force in the matcher, and next:
	// per partition, the offset after the last record applied (a copy). It
	// is called once when the Follower becomes ready, with the entries of
	// its replay put by records at or after AddedSince (the last change of
	// each key wins: an entry put, then deleted, is not among them), then
	// after every Apply, with that Apply's puts (perhaps none). It runs in
	// the applier's goroutine: it must return quickly (queue the work).
	Added func(puts []matcher.Entry, next map[int]int64)
	// AddedSince is, per partition, the first offset whose puts the replay
	// at start hands to Added; a partition it lacks (added since), from its
	// first offset. Nil: from the high watermark each partition had when
	// Run started, so only what was written after. A caller that persists
	// Added's next passes it here to be told what was put while it was not
	// running. The replay keeps those entries in memory until ready.
	AddedSince map[int]int64
	// Logger receives warnings (never plates); nil discards.
	Logger *slog.Logger
	// Registerer receives the Follower's metrics; nil means no metrics.
	Registerer prometheus.Registerer
}

// Validate reports every problem with c at once.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Kafka.Brokers) == 0 {
		errs = append(errs, errors.New("kafka brokers: required"))
	}
	if c.MaxBatch < 0 {
		errs = append(errs, errors.New("max batch: negative"))
	}
	for _, l := range c.Lists {
		if !matcher.ValidListName(l) {
			errs = append(errs, fmt.Errorf("lists: name %q: %s", l, listNameRule))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}
