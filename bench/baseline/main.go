// Command baseline is the usual alternative to anpr, built honestly and
// tuned as a competent team would, so that `make bench-baseline` can put
// our figures beside it on the same generated reads: a Go consumer of the
// reads topic that looks every plate up in a Redis set and stores every
// read in PostgreSQL.
//
//	baseline run --mode naive|tuned [--reads N] [--workers W] [--json]
//	baseline report NAIVE.json TUNED.json OURS.json
//
// naive: per read one SISMEMBER, one INSERT in autocommit (and, on a hit,
// an INSERT and a produce), then the offset commit. tuned: per fetched
// batch (≤ 2000 reads) one pipelined round trip of SMISMEMBER, COPY of
// the passages and hits in one transaction, the hits produced, then the
// offsets committed. Both durable (PostgreSQL's fsync and
// synchronous_commit on), both a table with a (plate, ts) index.
//
// It is a module of its own so that the Redis and PostgreSQL clients do
// not become dependencies of anpr; it reaches anpr's generator and
// embedded broker through a replace directive.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/anpr/anpr/internal/config"
	"github.com/anpr/anpr/internal/simulate"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage: baseline run --mode naive|tuned [flags] | baseline report NAIVE.json TUNED.json OURS.json")

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "run":
		return runCmd(ctx, args[1:])
	case "report":
		if len(args) != 4 {
			return errUsage
		}
		var rs [3]Result
		for i, path := range args[1:] {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(b, &rs[i]); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		fmt.Print(Report(rs[0], rs[1], rs[2]))
		return nil
	}
	return errUsage
}

func runCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("baseline run", flag.ContinueOnError)
	var w Workload
	path := fs.String("config", "testdata/anpr.yaml", "configuration: the network and hotlists, as anpr bench e2e uses")
	fs.StringVar(&w.Mode, "mode", Naive, "naive or tuned")
	fs.IntVar(&w.Reads, "reads", 1_000_000, "reads to produce and consume")
	fs.IntVar(&w.Workers, "workers", 4, "consumers in the group, each with its own connections")
	fs.IntVar(&w.Batch, "batch", 2000, "tuned: the most reads per transaction")
	fs.StringVar(&w.Redis, "redis", "127.0.0.1:6379", "Redis host:port")
	fs.StringVar(&w.Postgres, "postgres", "host=127.0.0.1 port=5432 user=postgres dbname=postgres", "PostgreSQL connection string")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := config.Load(*path)
	if err != nil {
		return err
	}
	if w.Traffic, err = simulate.FromConfig(c, 1); err != nil {
		return err
	}
	w.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	res, err := w.Run(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Printf("%s\n", b)
		return nil
	}
	fmt.Printf("%s: %d reads in %.2f s, %.0f reads/s, %.1f CPU-s per million (consumer+broker %.1f, redis %.1f, postgres %.1f), %.0f B per passage, %d hits\n",
		res.Mode, res.Reads, res.Seconds, res.ReadsPerS, res.CPUSPerMillion, res.ConsumerCPUPerM, res.RedisCPUPerM,
		res.PostgresCPUPerM, res.BytesPerPassage, res.Hits)
	return nil
}
