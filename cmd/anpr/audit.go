package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/anpr/anpr/internal/audit"
)

// newAuditCmd reads the audit trail file directly, so it works beside a
// running engine and never writes to the trail.
func newAuditCmd() *cobra.Command {
	var dataDir, file string
	path := func() string {
		if file != "" {
			return file
		}
		return filepath.Join(dataDir, "audit", audit.FileName)
	}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify or export the audit trail of investigative queries",
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", "data/dev/store", "the engine's data_dir (for anpr dev: its --data-dir plus /store)")
	cmd.PersistentFlags().StringVar(&file, "file", "", "an audit trail file or export, instead of --data-dir")
	cmd.AddCommand(&cobra.Command{
		Use:   "verify",
		Short: "Check every record's hash and its link to the one before; exit 1 at the first break",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := os.Open(path())
			if err != nil {
				return err
			}
			defer f.Close()
			n, err := audit.Verify(f)
			if err != nil {
				return fmt.Errorf("%s: %d records verified, then: %w", path(), n, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d records, chain intact\n", path(), n)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "export",
		Short: "Write the trail as JSON lines to standard output (complete records only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(path())
			if err != nil {
				return err
			}
			// A record being appended right now is left out.
			b = b[:bytes.LastIndexByte(b, '\n')+1]
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	})
	return cmd
}
