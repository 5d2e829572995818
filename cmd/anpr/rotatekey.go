package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/anpr/anpr/internal/config"
	"github.com/anpr/anpr/internal/store"
)

func newRotateKeyCmd() *cobra.Command {
	var dir, oldFile, newFile string
	cmd := &cobra.Command{
		Use:   "rotate-key",
		Short: "Re-encrypt a stopped engine's store from one key file to another",
		Long: `Re-encrypt the key registry of a stopped engine's store: the data is encrypted
with data keys that the registry keeps under the master key, so only the registry is
rewritten. Key files hold 32, 48 or 64 hex digits; an empty --old-key-file or
--new-key-file means no encryption (to encrypt a plain store, or to decrypt one).
Then point encryption.key_file (or key_env) of the configuration at the new key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key := func(path string) ([]byte, error) {
				if path == "" {
					return nil, nil
				}
				return (&config.Encryption{KeyFile: path}).Key()
			}
			oldKey, err := key(oldFile)
			if err != nil {
				return fmt.Errorf("old key: %w", err)
			}
			newKey, err := key(newFile)
			if err != nil {
				return fmt.Errorf("new key: %w", err)
			}
			if err := store.RotateKey(dir, oldKey, newKey); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: key rotated\n", dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "data-dir", "", "the store directory (data_dir; for anpr dev: its --data-dir plus /store)")
	_ = cmd.MarkFlagRequired("data-dir")
	cmd.Flags().StringVar(&oldFile, "old-key-file", "", "file with the current key (empty: the store is not encrypted)")
	cmd.Flags().StringVar(&newFile, "new-key-file", "", "file with the new key (empty: decrypt)")
	return cmd
}
