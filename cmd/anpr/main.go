// Command anpr is the national ANPR back end: it ingests camera reads from
// Kafka, matches them against hotlists, stores every passage and serves
// dispatch, enforcement and investigators over HTTP.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	_ "time/tzdata" // section schedules need time zones on minimal hosts too

	"github.com/anpr/anpr/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:])
	stop()
	os.Exit(exitCode(err))
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
	exitConfig = 3
)

func exitCode(err error) int {
	var ve *config.ValidationError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ve):
		fmt.Fprintln(os.Stderr, err)
		return exitConfig
	case errors.Is(err, errUsage):
		return exitUsage
	default:
		fmt.Fprintln(os.Stderr, "anpr:", err)
		return exitFailed
	}
}

// Run runs the anpr command line with args (without the program name).
func Run(ctx context.Context, args []string) error {
	root := newRootCmd()
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}
