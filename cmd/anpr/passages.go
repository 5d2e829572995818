package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/anpr/anpr/internal/auth"
)

// passagesFlags are the flags of `anpr passages`.
type passagesFlags struct {
	api                       apiFlags
	plate, pattern, camera    string
	from, to                  string
	ocr                       bool
	limit                     int
	caseRef, approval, format string
}

func newPassagesCmd() *cobra.Command {
	var f passagesFlags
	cmd := &cobra.Command{
		Use:   "passages (--plate P | --pattern 1AB?23* | --camera C --from T) [--to T] [--limit N]",
		Short: "Search passages through the API (investigator role, a case reference; an approval past 30 days)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd.OutOrStdout())
		},
	}
	f.api.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.plate, "plate", "", "exact plate")
	fl.StringVar(&f.pattern, "pattern", "", "plate pattern: ? one character, * any run; needs 3 fixed characters in a row")
	fl.BoolVar(&f.ocr, "ocr", false, "match the plate or pattern after mapping OCR-confusable characters")
	fl.StringVar(&f.camera, "camera", "", "camera id (needs --from; at most 31 days)")
	fl.StringVar(&f.from, "from", "", "start of the window: RFC 3339, or a duration ago (72h)")
	fl.StringVar(&f.to, "to", "", "end of the window (exclusive): RFC 3339, or a duration ago; default now")
	fl.IntVar(&f.limit, "limit", 1000, "most passages to print (cursors are followed up to it)")
	fl.StringVar(&f.caseRef, "case", "", "case reference (X-Case-Ref); required")
	fl.StringVar(&f.approval, "approval", "", "prosecutor's approval (X-Approval-Ref), for data older than 30 days")
	fl.StringVar(&f.format, "format", "table", "output: table, csv or json")
	return cmd
}

// passageOut is what the command shows of a passage (SPEC §3 names).
type passageOut struct {
	ReadID       string   `json:"read_id"`
	CameraID     string   `json:"camera_id"`
	TS           string   `json:"ts"`
	Plate        string   `json:"plate"`
	PlateNorm    string   `json:"plate_norm"`
	Country      string   `json:"country"`
	Confidence   *float64 `json:"confidence"`
	Lane         *int     `json:"lane"`
	VehicleClass string   `json:"vehicle_class"`
	ImageRef     string   `json:"image_ref"`
}

// when parses an RFC 3339 time or a duration ago.
func when(v, name string, now time.Time) (string, error) {
	if v == "" {
		return "", nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d).UTC().Format(time.RFC3339Nano), nil
	}
	if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
		return "", fmt.Errorf("--%s: %q is neither an RFC 3339 time nor a duration", name, v)
	}
	return v, nil
}

func (f *passagesFlags) run(out io.Writer) error {
	q := url.Values{}
	switch {
	case f.plate != "" && f.pattern == "" && f.camera == "":
		q.Set("plate", f.plate)
	case f.pattern != "" && f.plate == "" && f.camera == "":
		q.Set("plate", f.pattern)
		if !strings.ContainsAny(f.pattern, "?*") {
			f.ocr = true // a pattern without wildcards is still a pattern search
		}
	case f.camera != "" && f.plate == "" && f.pattern == "":
		q.Set("camera", f.camera)
	default:
		return errors.New("give one of --plate, --pattern and --camera")
	}
	if f.ocr {
		q.Set("ocr", "true")
	}
	if f.caseRef == "" {
		return errors.New("--case is required: every investigative query names its case")
	}
	if f.format != "table" && f.format != "csv" && f.format != "json" {
		return fmt.Errorf("--format %q: want table, csv or json", f.format)
	}
	if f.limit <= 0 {
		return errors.New("--limit must be positive")
	}
	now := time.Now()
	for _, p := range []struct{ name, v string }{{"from", f.from}, {"to", f.to}} {
		t, err := when(p.v, p.name, now)
		if err != nil {
			return err
		}
		if t != "" {
			q.Set(p.name, t)
		}
	}
	h := http.Header{}
	h.Set(auth.HeaderCaseRef, f.caseRef)
	if f.approval != "" {
		h.Set(auth.HeaderApprovalRef, f.approval)
	}
	var all []passageOut
	for len(all) < f.limit {
		q.Set("limit", strconv.Itoa(min(1000, f.limit-len(all))))
		var buf bytes.Buffer
		if err := f.api.doHeader("GET", "/api/v1/passages?"+q.Encode(), h, "", nil, &buf); err != nil {
			return err
		}
		var page struct {
			Passages []passageOut `json:"passages"`
			Next     string       `json:"next"`
		}
		if err := json.Unmarshal(buf.Bytes(), &page); err != nil {
			return fmt.Errorf("answer of the API: %w", err)
		}
		all = append(all, page.Passages...)
		if page.Next == "" {
			break
		}
		q.Set("after", page.Next)
	}
	return printPassages(out, f.format, all)
}

func printPassages(out io.Writer, format string, ps []passageOut) error {
	if format == "json" {
		if ps == nil {
			ps = []passageOut{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(ps)
	}
	header := []string{"ts", "plate_norm", "plate", "country", "camera_id", "vehicle_class", "confidence", "lane", "read_id", "image_ref"}
	rows := [][]string{header}
	for _, p := range ps {
		conf, lane := "", ""
		if p.Confidence != nil {
			conf = strconv.FormatFloat(*p.Confidence, 'f', -1, 64)
		}
		if p.Lane != nil {
			lane = strconv.Itoa(*p.Lane)
		}
		rows = append(rows, []string{p.TS, p.PlateNorm, p.Plate, p.Country, p.CameraID, p.VehicleClass, conf, lane, p.ReadID, p.ImageRef})
	}
	if format == "csv" {
		w := csv.NewWriter(out)
		if err := w.WriteAll(rows); err != nil {
			return err
		}
		return w.Error()
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r[:9], "\t"))
	}
	return tw.Flush()
}
