package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// errUsage marks a command-line mistake; cobra has already printed it.
var errUsage = errors.New("usage")

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// globalFlags are the flags every command has.
type globalFlags struct {
	logLevel string
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "anpr",
		Short:         "National ANPR back end: hotlist hits, section control, passage search",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		fmt.Fprintf(os.Stderr, "anpr %s: %v\n%s", c.Name(), err, c.UsageString())
		return errUsage
	})
	root.AddCommand(
		newServeCmd(g),
		newDevCmd(g),
		newBrokerCmd(g),
		newSimulateCmd(g),
		newHotlistCmd(),
		newPassagesCmd(),
		newReplayCmd(g),
		newBenchCmd(g),
		newAuditCmd(),
		newRotateKeyCmd(),
		newVersionCmd(),
	)
	return root
}

func (g *globalFlags) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			goVersion := "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				goVersion = bi.GoVersion
			}
			fmt.Fprintf(cmd.OutOrStdout(), "anpr %s (%s)\n", version, goVersion)
			return nil
		},
	}
}
