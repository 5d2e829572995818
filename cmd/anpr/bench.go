package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/anpr/anpr/bench"
	"github.com/anpr/anpr/internal/config"
	"github.com/anpr/anpr/internal/simulate"
	"github.com/anpr/anpr/matcher"
)

func newBenchCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the system on this machine",
	}
	var (
		path       string
		w          bench.E2E
		asJSON     bool
		brokers    []string
		cpuProfile string
	)
	e2e := &cobra.Command{
		Use:   "e2e",
		Short: "Realistic reads through Kafka and the whole pipeline: throughput, CPU, latency, memory, disk",
		Long: `Generate realistic camera traffic for the configured network (section passages,
listed plates, OCR confusions, fuzzy misreads, duplicates), send it to the embedded broker (or
--brokers), run the whole pipeline on it with every passage fsync'd, and report sustained
reads/s, CPU seconds per million reads, read→hit latency (with --rate), peak RSS and bytes per
passage on disk. Without --rate all reads are sent first and the pipeline drains them as fast
as it can; with --rate they are offered at that rate while it runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := config.Load(path)
			if err != nil {
				return err
			}
			if w.Engine, err = engineConfig(c); err != nil {
				return err
			}
			if w.Traffic, err = simulate.FromConfig(c, 1); err != nil {
				return err
			}
			w.Brokers = brokers
			w.Logger = g.logger()
			f, err := createProfile(cpuProfile, &w.CPUProfile)
			if err != nil {
				return err
			}
			defer f.Close()
			res, err := w.Run(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printResult(cmd.OutOrStdout(), res, true)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reads %d (offered %.0f/s; 0 = saturation) in %.2f s\n"+
				"  throughput        %.0f reads/s\n  cpu               %.2f s per million reads\n"+
				"  read→hit latency  p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  (%d hits)\n"+
				"  violations        %d\n  peak rss          %.0f MB\n  disk              %.1f bytes per passage\n",
				res.Reads, res.Rate, res.Seconds, res.ReadsPerS, res.CPUSPerMillion,
				res.HitLatencyP50Ms, res.HitLatencyP99Ms, res.HitLatencyP999Ms, res.Hits,
				res.Violations, res.RSSPeakMB, res.BytesPerPassage)
			return nil
		},
	}
	f := e2e.Flags()
	f.StringVar(&path, "config", "testdata/anpr.yaml", "configuration: network, sections, hotlists")
	f.IntVar(&w.Reads, "reads", 1_000_000, "reads to send")
	f.Float64Var(&w.Rate, "rate", 0, "offered reads per second (0: send all first, measure saturation)")
	f.StringSliceVar(&brokers, "brokers", nil, "an external cluster (default: the embedded broker, in this process)")
	f.StringVar(&w.Dir, "dir", "", "directory for the store (default: a temporary one, removed)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the pipeline's run, after the reads are produced (go tool pprof)")
	cmd.AddCommand(e2e, newBenchMatcherCmd(g), newBenchStoreCmd(), newBenchQueryCmd())
	return cmd
}

// createProfile creates the CPU profile file at path and sets *w to it;
// with path "" it returns a nil file (Close on it is harmless) and leaves
// *w nil.
func createProfile(path string, w *io.Writer) (*os.File, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Create(path)
	if err == nil {
		*w = f
	}
	return f, err
}

// printResult prints res as one JSON object, or indented.
func printResult(out io.Writer, res any, asJSON bool) error {
	b, err := json.Marshal(res)
	if !asJSON && err == nil {
		b, err = json.MarshalIndent(res, "", "  ")
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}

func newBenchStoreCmd() *cobra.Command {
	var (
		f      bench.Fill
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "store --fill N --data-dir DIR",
		Short: "Write N generated passages (national-feed shaped) straight into a new store, for anpr bench query",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := f.Run()
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), res, asJSON)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.Passages, "fill", 10_000_000, "passages to write")
	fl.StringVar(&f.Dir, "data-dir", "", "directory of the new store (required)")
	fl.IntVar(&f.Cameras, "cameras", 12_700, "cameras")
	fl.IntVar(&f.PerPlate, "per-plate", 20, "mean passages per plate")
	fl.IntVar(&f.PerDay, "per-day", 60_000_000, "passages per day of capture time")
	fl.BoolVar(&f.Sync, "sync", false, "fsync every batch as the pipeline does")
	fl.Uint64Var(&f.Seed, "seed", 1, "random seed")
	fl.BoolVar(&asJSON, "json", false, "print one JSON line")
	_ = cmd.MarkFlagRequired("data-dir")
	return cmd
}

func newBenchQueryCmd() *cobra.Command {
	var (
		q          bench.Query
		asJSON     bool
		cpuProfile string
	)
	cmd := &cobra.Command{
		Use:   "query --data-dir DIR",
		Short: "Time plate history (cold and warm), camera-hour and one-day pattern queries on a store filled by anpr bench store; bytes per passage",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := createProfile(cpuProfile, &q.CPUProfile)
			if err != nil {
				return err
			}
			defer f.Close()
			res, err := q.Run()
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), res, asJSON)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&q.Dir, "data-dir", "", "a store filled by anpr bench store (required)")
	fl.IntVar(&q.Samples, "samples", 1000, "plate histories timed (camera hours: 1/20 of it, patterns 1/50)")
	fl.Uint64Var(&q.Seed, "seed", 2, "random seed")
	fl.BoolVar(&asJSON, "json", false, "print one JSON line")
	fl.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the queries (go tool pprof)")
	_ = cmd.MarkFlagRequired("data-dir")
	return cmd
}

func newBenchMatcherCmd(g *globalFlags) *cobra.Command {
	var (
		path   string
		w      bench.Matcher
		mode   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "matcher",
		Short: "Hotlist matching alone: checks per second per core, memory per entry, load time",
		Long: `Load --entries generated plates (every field set) into one list of --mode, then match
realistic reads of the configured network against it with MatchBatch, as the engine does: mostly
unlisted plates, a share of listed ones read right, OCR-confused and one edit away. Reports the
load's wall and CPU time, the heap per entry, and checks per second of wall time and per core
(process CPU time, the steadier figure on a shared machine).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch w.Mode = matcher.Mode(mode); w.Mode {
			case matcher.Exact, matcher.OCR, matcher.Fuzzy:
			default:
				return cmd.FlagErrorFunc()(cmd, fmt.Errorf("--mode %q: want exact, ocr or fuzzy", mode))
			}
			c, err := config.Load(path)
			if err != nil {
				return err
			}
			if w.Traffic, err = simulate.FromConfig(c, 1); err != nil {
				return err
			}
			g.logger().Info("bench matcher: building the list", "entries", w.Entries, "mode", mode)
			res, err := w.Run(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printResult(cmd.OutOrStdout(), res, true)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "entries %d, mode %s\n"+
				"  load              %.2f s (%.2f CPU-s), %.1f bytes per entry\n"+
				"  checks            %d in %.2f s on %d workers\n"+
				"  throughput        %.0f checks/s, %.0f checks/s/core (%.0f CPU-ns per check)\n"+
				"  hits              %.0f per million checks\n",
				res.Entries, res.Mode, res.LoadS, res.LoadCPUS, res.BytesPerEntry,
				res.Checks, res.Seconds, res.Workers, res.ChecksPerS, res.ChecksPerSPerCore, res.NsPerCheck,
				res.HitsPerMillion)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&path, "config", "testdata/anpr.yaml", "configuration: the network the reads come from")
	f.IntVar(&w.Entries, "entries", 1_000_000, "entries on the list")
	f.StringVar(&mode, "mode", "exact", "list mode: exact, ocr or fuzzy")
	f.DurationVar(&w.Duration, "duration", 3*time.Second, "how long to match")
	f.IntVar(&w.Workers, "workers", 0, "goroutines matching at once (default GOMAXPROCS)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}
