package simulate

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/plate"
)

// Run generates reads at cfg.Rate times the daily rhythm (Europe/Brussels
// local time; cfg.Flat turns it off) and writes them to w, keyed by the
// normalized plate, in batches of up to batchSize messages, until ctx is
// done. It returns nil when ctx is done and the first write error otherwise.
// It does not close w.
func Run(ctx context.Context, cfg Config, w *kafka.Writer, logger *slog.Logger) error {
	if !(cfg.Rate > 0) {
		return fmt.Errorf("simulate: rate %v: must be > 0", cfg.Rate)
	}
	g, err := NewGenerator(cfg)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation("Europe/Brussels")
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = time.Now
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()

	var (
		last    = clock()
		budget  float64 // reads owed
		sent    int
		logged  = last
		batch   []kafka.Message
		flushed = func(err error) error {
			if err != nil && ctx.Err() != nil {
				return nil
			}
			return err
		}
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		now := clock()
		elapsed := now.Sub(last)
		if elapsed <= 0 {
			continue
		}
		rate := cfg.Rate
		if !cfg.Flat {
			rate *= dailyFactor(now.In(loc))
		}
		// Owe at most a second of reads: a slow broker lowers the rate
		// instead of causing a burst later.
		budget = min(budget+elapsed.Seconds()*rate, max(rate, 1))
		owed := budget
		for budget >= 1 {
			// Spread the reads of this tick over its interval.
			at := last.Add(time.Duration(float64(elapsed) * (1 - (budget-1)/owed)))
			for _, r := range g.Next(at) {
				batch = append(batch, Message(&r))
				budget--
			}
			if len(batch) >= batchSize {
				if err := w.WriteMessages(ctx, batch...); err != nil {
					return flushed(fmt.Errorf("simulate: write reads: %w", err))
				}
				sent += len(batch)
				batch = nil // the writer may keep the slice when async
			}
		}
		if len(batch) > 0 {
			if err := w.WriteMessages(ctx, batch...); err != nil {
				return flushed(fmt.Errorf("simulate: write reads: %w", err))
			}
			sent += len(batch)
			batch = nil
		}
		last = now
		if now.Sub(logged) >= logEvery {
			logger.Info("simulating", "reads", sent, "reads_per_s", rate, "passages_in_flight", g.Pending())
			logged = now
		}
	}
}

const (
	tick      = 10 * time.Millisecond
	batchSize = 500
	logEvery  = 30 * time.Second
)

// Message is the record of r on the reads topic: keyed by normalized plate,
// stamped with the capture time.
func Message(r *plate.Read) kafka.Message {
	return kafka.Message{Key: []byte(r.PlateNorm), Value: plate.AppendJSON(nil, r), Time: r.TS}
}

// profile is the relative traffic at each local hour 0..24 (Belgian
// motorway counts: quiet night, morning peak 07-09, evening peak 16-18);
// dailyFactor interpolates it and scales it to a daily mean of 1.
var profile = [25]float64{
	0.18, 0.15, 0.15, 0.15, 0.22, 0.55, 1.15, 1.60, 1.60, 1.40, 1.25, 1.25,
	1.30, 1.30, 1.30, 1.40, 1.50, 1.50, 1.40, 1.15, 0.90, 0.70, 0.50, 0.30, 0.18,
}

var profileMean = func() float64 {
	var sum float64
	for h := range 24 {
		sum += (profile[h] + profile[h+1]) / 2 // trapezoids of an hour each
	}
	return sum / 24
}()

// dailyFactor is the traffic at local time t relative to the daily mean.
func dailyFactor(t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600
	i := int(h)
	f := h - float64(i)
	return (profile[i]*(1-f) + profile[i+1]*f) / profileMean
}
