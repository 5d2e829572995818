package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/engine"
	"github.com/anpr/anpr/internal/broker"
	"github.com/anpr/anpr/internal/simulate"
)

// E2E is the end-to-end workload.
type E2E struct {
	// Engine is the pipeline's configuration (cameras, sections, hotlists,
	// topics). Run sets its brokers, consumer group and data directory,
	// and runs it without the HTTP API.
	Engine engine.Config
	// Traffic is the network and the mix of the reads; Rate and Clock are
	// ignored.
	Traffic simulate.Config
	// Reads is how many reads to send; default 1,000,000.
	Reads int
	// Rate, when > 0, offers the reads at that many per second while the
	// pipeline runs, and measures read→hit latency at that load. 0 sends
	// them all first, then measures how fast the pipeline drains them.
	Rate float64
	// Brokers of an external cluster; empty starts the embedded broker in
	// this process, where it shares the cores with the pipeline. With an
	// external cluster the topics of Engine.Topics are used and the reads
	// topic must be empty.
	Brokers []string
	// Dir holds the store; empty: a temporary directory, removed after.
	Dir    string
	Logger *slog.Logger
	// CPUProfile, when set, receives a CPU profile (runtime/pprof) of the
	// measured window only: from the pipeline's start to its stop, without
	// the reads' generation and production before it.
	CPUProfile io.Writer
}

// Result is what one run measured.
type Result struct {
	Reads int `json:"reads"`
	// Rate is the offered rate (0: saturation).
	Rate    float64 `json:"offered_reads_per_s"`
	Seconds float64 `json:"seconds"`
	// ReadsPerS is reads over Seconds: from the pipeline's start to its
	// clean stop after the last read (saturation), or from the first read
	// sent (offered rate).
	ReadsPerS float64 `json:"reads_per_s"`
	// CPUSPerMillion is the process's CPU over the same window per
	// million reads: the pipeline, and the embedded broker when it runs
	// here (and the producer, at an offered rate).
	CPUSPerMillion float64 `json:"cpu_s_per_million"`
	// Hit latency: from the read's send to its hit received from the hits
	// topic; measured at an offered rate only.
	HitLatencyP50Ms  float64 `json:"hit_latency_p50_ms"`
	HitLatencyP99Ms  float64 `json:"hit_latency_p99_ms"`
	HitLatencyP999Ms float64 `json:"hit_latency_p999_ms"`
	Hits             int     `json:"hits"`
	Violations       int     `json:"violations"`
	// RSSPeakMB is the process's peak resident set (its whole life).
	RSSPeakMB float64 `json:"rss_peak_mb"`
	// BytesPerPassage is the store directory's size after Close over the
	// passages written.
	BytesPerPassage float64 `json:"bytes_per_passage"`
}

// sendMark prefixes the image_ref of each read at an offered rate with its
// send time, so that its hits carry it back without a lookup table.
const sendMark = "bench:"

// Run runs the workload once.
func (c E2E) Run(ctx context.Context) (Result, error) {
	if c.Reads <= 0 {
		c.Reads = 1_000_000
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := c.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "anpr-bench-")
		if err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	ec := c.Engine
	t := ec.Topics
	if len(c.Brokers) == 0 {
		b, err := broker.Start(broker.Options{Topics: []string{t.Reads, t.DLQ, t.Hits, t.Violations},
			Compacted: []string{t.Hotlists}, Logger: log})
		if err != nil {
			return Result{}, err
		}
		defer b.Close()
		ec.Kafka.Brokers = []string{b.Addr()}
	} else {
		ec.Kafka.Brokers = c.Brokers
	}
	ec.Group = "anpr-bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	ec.DataDir = filepath.Join(dir, "store")
	ec.HTTPListen = ""
	reg := prometheus.NewRegistry()
	ec.Registerer, ec.Gatherer, ec.Logger = reg, reg, log

	g, err := simulate.NewGenerator(c.Traffic)
	if err != nil {
		return Result{}, err
	}
	w := ec.Kafka.Writer(t.Reads)
	defer w.Close()

	if c.Rate <= 0 {
		if err := ProduceReads(ctx, g, w, c.Reads); err != nil {
			return Result{}, err
		}
		log.Info("reads produced", "reads", c.Reads)
	}

	e, err := engine.Open(ec)
	if err != nil {
		return Result{}, err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if c.CPUProfile != nil {
		if err := pprof.StartCPUProfile(c.CPUProfile); err != nil {
			return Result{}, err
		}
		defer pprof.StopCPUProfile()
	}
	cpu0, _ := usage()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()

	var lat latencies
	hitsDone := make(chan struct{})
	hctx, stopHits := context.WithCancel(ctx)
	defer func() { stopHits(); <-hitsDone }()
	if c.Rate > 0 {
		go func() { defer close(hitsDone); lat.follow(hctx, ec.Kafka.Brokers, t.Hits) }()
		if err := c.offer(runCtx, g, w); err != nil {
			stop()
			<-done
			e.Close()
			return Result{}, err
		}
	} else {
		close(hitsDone)
	}
	// Stop cleanly once every read is consumed: the worker stores, produces
	// and commits its batch in hand, then the store closes.
	for sum(reg, "anpr_ingest_records_consumed_total", "") < float64(c.Reads) {
		select {
		case err := <-done:
			e.Close()
			return Result{}, fmt.Errorf("pipeline stopped early: %w", err)
		case <-ctx.Done():
			stop()
			<-done
			e.Close()
			return Result{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; err != nil {
		e.Close()
		return Result{}, err
	}
	elapsed := time.Since(start)
	cpu1, rss := usage()
	if c.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	res := Result{
		Reads: c.Reads, Rate: c.Rate, Seconds: elapsed.Seconds(),
		ReadsPerS:      float64(c.Reads) / elapsed.Seconds(),
		CPUSPerMillion: (cpu1 - cpu0).Seconds() / float64(c.Reads) * 1e6,
		Hits:           int(sum(reg, "anpr_engine_hits_total", "")),
		Violations:     int(sum(reg, "anpr_sectioncontrol_outcomes_total", "violation")),
		RSSPeakMB:      float64(rss) / (1 << 20),
	}
	passages := sum(reg, "anpr_store_passages_written_total", "")
	if err := e.Close(); err != nil {
		return res, err
	}
	if size, err := dirSize(ec.DataDir); err == nil && passages > 0 {
		res.BytesPerPassage = float64(size) / passages
	}
	if c.Rate > 0 {
		// Let the last hits arrive, then stop reading them.
		time.Sleep(time.Second)
		stopHits()
		<-hitsDone
		res.HitLatencyP50Ms, res.HitLatencyP99Ms, res.HitLatencyP999Ms = lat.percentiles()
	}
	return res, nil
}

// MessageWriter is where reads are produced (a kafka-go writer).
type MessageWriter interface {
	WriteMessages(context.Context, ...kafka.Message) error
}

// ProduceReads sends n reads of g to w, all at once, as traffic of 500
// reads per second whose capture times end now: vehicles cross sections
// (minutes) many times within the run, so section control decides as it
// would live. The same generator settings give the same reads, so
// workloads that call it compare on the same traffic.
func ProduceReads(ctx context.Context, g *simulate.Generator, w MessageWriter, n int) error {
	span := time.Duration(float64(n) / 500 * float64(time.Second))
	now := time.Now().Add(-span)
	step := span / time.Duration(n)
	var batch []kafka.Message
	for sent := 0; sent < n; now = now.Add(step) {
		for _, r := range g.Next(now) {
			if sent == n {
				break
			}
			batch = append(batch, simulate.Message(&r))
			sent++
		}
		if len(batch) >= 5000 || sent == n {
			if err := w.WriteMessages(ctx, batch...); err != nil {
				return fmt.Errorf("produce reads: %w", err)
			}
			batch = batch[:0]
		}
	}
	return nil
}

// offer sends c.Reads reads at c.Rate per second, in ticks of 5 ms, each
// read's image_ref carrying its send time.
func (c E2E) offer(ctx context.Context, g *simulate.Generator, w MessageWriter) error {
	const tick = 5 * time.Millisecond
	start := time.Now()
	sent := 0
	var batch []kafka.Message
	for sent < c.Reads {
		now := time.Now()
		owed := min(int(now.Sub(start).Seconds()*c.Rate), c.Reads) - sent
		mark := sendMark + strconv.FormatInt(now.UnixNano(), 10)
		for owed > 0 {
			for _, r := range g.Next(now) {
				if owed == 0 {
					break
				}
				r.ImageRef = mark
				batch = append(batch, simulate.Message(&r))
				owed--
				sent++
			}
		}
		if len(batch) > 0 {
			if err := w.WriteMessages(ctx, batch...); err != nil {
				return fmt.Errorf("produce reads: %w", err)
			}
			batch = batch[:0]
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(tick):
		}
	}
	return nil
}

// latencies collects read→hit latencies from the hits topic.
type latencies struct {
	ms []float64
}

// follow reads the hits topic until ctx is done; each hit's read carries
// its send time in image_ref. It never commits (ReadMessage in a group
// commits every message synchronously, which queued bursts of hits behind
// commit round trips), and its fetches wait up to 500 ms for a hit: the
// broker answers as soon as one arrives, whereas a 5 ms MaxWait made kafka-go
// time out a fetch a loaded broker answered late, close the connection and
// redial (533 errors, 545 dials in a 6 s run: read→hit p50 193 ms).
func (l *latencies) follow(ctx context.Context, brokers []string, topic string) {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic,
		GroupID: "anpr-bench-hits-" + strconv.FormatInt(time.Now().UnixNano(), 36), StartOffset: kafka.LastOffset,
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 500 * time.Millisecond})
	defer r.Close()
	mark := []byte(`"image_ref":"` + sendMark)
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return
		}
		at := time.Now()
		i := bytes.Index(m.Value, mark)
		if i < 0 {
			continue
		}
		v := m.Value[i+len(mark):]
		if j := bytes.IndexByte(v, '"'); j > 0 {
			if ns, err := strconv.ParseInt(string(v[:j]), 10, 64); err == nil {
				l.ms = append(l.ms, float64(at.UnixNano()-ns)/1e6)
			}
		}
	}
}

func (l *latencies) percentiles() (p50, p99, p999 float64) {
	if len(l.ms) == 0 {
		return 0, 0, 0
	}
	slices.Sort(l.ms)
	at := func(q float64) float64 { return l.ms[min(int(q*float64(len(l.ms))), len(l.ms)-1)] }
	return at(0.50), at(0.99), at(0.999)
}

// sum adds the values of a counter family, only the series whose
// "outcome" label is outcome when outcome is not empty.
func sum(g prometheus.Gatherer, name, outcome string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if outcome == "" || hasLabel(m, "outcome", outcome) {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// dirSize is the bytes of the files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	return n, err
}
