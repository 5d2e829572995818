package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/anpr/anpr/internal/audit"
	"github.com/anpr/anpr/internal/config"
	"github.com/anpr/anpr/internal/replay"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/matcher"
	"github.com/anpr/anpr/plate"
)

func newReplayCmd(g *globalFlags) *cobra.Command {
	var (
		path, from, to, plateArg, camera, topic, hotlistFile, match, caseRef string
		o                                                                    overrides
		speed                                                                float64
	)
	cmd := &cobra.Command{
		Use:   "replay --from T1 --to T2 [--plate P | --camera C] (--to-topic T [--speed X] | --hotlist FILE) --case REF",
		Short: "Re-emit stored passages in capture-time order onto a topic, or answer what a hotlist would have hit (engine stopped: the store is opened directly)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := &config.Config{}
			if path != "" {
				var err error
				if c, err = config.Load(path); err != nil {
					return err
				}
			}
			o.apply(c)
			if c.DataDir == "" {
				return errors.New("give --data-dir or --config")
			}
			if (topic == "") == (hotlistFile == "") {
				return errors.New("give --to-topic or --hotlist")
			}
			if caseRef == "" {
				return errors.New("--case is required: a replay reads passages and is audited")
			}
			now := time.Now()
			var sel replay.Selection
			for _, p := range []struct {
				name, v string
				t       *time.Time
			}{{"from", from, &sel.From}, {"to", to, &sel.To}} {
				v, err := when(p.v, p.name, now)
				if err != nil {
					return err
				}
				if v == "" {
					return fmt.Errorf("--%s is required", p.name)
				}
				*p.t, _ = time.Parse(time.RFC3339Nano, v)
			}
			if plateArg != "" {
				norm, ok := plate.Normalize(plateArg)
				if !ok {
					return fmt.Errorf("--plate %q is not a plate", plateArg)
				}
				sel.Plate = norm
			}
			sel.Camera = camera
			if err := sel.Validate(); err != nil {
				return err
			}
			var key []byte
			if c.Encryption != nil {
				var err error
				if key, err = c.Encryption.Key(); err != nil {
					return err
				}
			}
			st, err := store.Open(store.Options{Dir: c.DataDir, Retention: c.Retention, EncryptionKey: key, Logger: g.logger()})
			if err != nil {
				return err
			}
			defer st.Close()
			query := fmt.Sprintf("replay from=%s to=%s plate=%s camera=%s to-topic=%s hotlist=%s",
				plate.AppendTime(nil, sel.From), plate.AppendTime(nil, sel.To), sel.Plate, sel.Camera, topic, hotlistFile)
			if err := auditReplay(c.DataDir, caseRef, query); err != nil {
				return err
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			defer out.Flush()
			if hotlistFile != "" {
				ocr, err := c.OCRTable()
				if err != nil {
					return err
				}
				return replayHotlist(st, sel, hotlistFile, match, ocr, out)
			}
			kc, err := kafkaConfig(c.Kafka)
			if err != nil {
				return err
			}
			w := kc.Writer(topic)
			defer w.Close()
			n, err := replay.Run(cmd.Context(), st, replay.Config{Selection: sel, Speed: speed}, w.WriteMessages)
			fmt.Fprintf(out, "%d passages replayed onto %s\n", n, topic)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&path, "config", "", "configuration file (data_dir, retention, encryption, kafka)")
	fl.StringVar(&o.dataDir, "data-dir", "", "the store's directory (the engine's data_dir), overriding the configuration's")
	fl.StringSliceVar(&o.brokers, "brokers", nil, "Kafka brokers, overriding kafka.brokers")
	fl.StringVar(&from, "from", "", "start of the window: RFC 3339, or a duration ago (72h)")
	fl.StringVar(&to, "to", "", "end of the window (exclusive): RFC 3339, or a duration ago")
	fl.StringVar(&plateArg, "plate", "", "only this plate's passages")
	fl.StringVar(&camera, "camera", "", "only this camera's passages")
	fl.StringVar(&topic, "to-topic", "", "topic to re-emit the passages onto, as Read JSON keyed by plate")
	fl.Float64Var(&speed, "speed", 0, "pace: capture times this many times faster (0: as fast as possible)")
	fl.StringVar(&hotlistFile, "hotlist", "", "hotlist CSV (SPEC §4): print the hits it would have had, publish nothing")
	fl.StringVar(&match, "match", "exact", "how --hotlist matches: exact, ocr or fuzzy")
	fl.StringVar(&caseRef, "case", "", "case reference, recorded in the audit trail; required")
	return cmd
}

// auditReplay records the replay in the audit trail beside the store.
func auditReplay(dataDir, caseRef, query string) error {
	trail, err := audit.Open(filepath.Join(dataDir, "audit"), audit.Options{})
	if err != nil {
		return err
	}
	defer trail.Close()
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	_, err = trail.Append(audit.Record{Who: who, Roles: []string{"operator"}, Action: "passages.replay", CaseRef: caseRef, Query: query})
	return err
}

// replayHotlist prints, as hit JSON lines, what the list in file would have
// hit among the selected passages.
func replayHotlist(st *store.Store, sel replay.Selection, file, mode string, ocr *plate.OCRTable, out *bufio.Writer) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	entries, bad, err := matcher.ReadCSV(f)
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s: %d bad rows, the first: %v", file, len(bad), bad[0])
	}
	name := ""
	for i := range entries {
		if name == "" {
			name = entries[i].List
		}
		if entries[i].List != name {
			return fmt.Errorf("%s: entries of lists %q and %q; replay one list at a time", file, name, entries[i].List)
		}
	}
	if name == "" {
		return fmt.Errorf("%s: no entry", file)
	}
	m, err := matcher.New([]matcher.List{{Name: name, Mode: matcher.Mode(mode), Suppress: -1}}, matcher.Options{OCR: ocr})
	if err != nil {
		return err
	}
	if err := m.Load(entries); err != nil {
		return err
	}
	n := 0
	err = replay.Hits(st, sel, m, func(h *matcher.Hit) error {
		n++
		_, err := out.Write(append(h.AppendJSON(nil), '\n'))
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d hits\n", n)
	return nil
}
