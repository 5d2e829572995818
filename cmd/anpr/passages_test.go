package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anpr/anpr/internal/api"
	"github.com/anpr/anpr/internal/auth"
	"github.com/anpr/anpr/internal/store"
	"github.com/anpr/anpr/plate"
)

// TestPassagesCmd runs `anpr passages` against a real API over a store of
// known passages: cursors followed up to --limit, in time order, each format.
func TestPassagesCmd(t *testing.T) {
	tok, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New([]auth.User{{Name: "inv", Roles: []string{auth.RoleInvestigator}, TokenSHA256: auth.HashToken(tok)}}, auth.Options{Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Second)
	var reads []plate.Read
	for i := range 2500 {
		norm := []string{"1ABC234", "1ABD234"}[i%2]
		// Written newest first, so time order is the store's doing.
		ts := base.Add(time.Duration(2500-i) * time.Second)
		reads = append(reads, plate.Read{ReadID: fmt.Sprintf("r%04d", i), CameraID: "CAM-1", TS: ts, Plate: norm,
			PlateNorm: norm, Confidence: 0.5, Lane: 1, VehicleClass: plate.ClassCar})
	}
	if _, err := st.Write(&store.Batch{Reads: reads}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{Store: st, Auth: a}).Handler())
	defer srv.Close()
	run := func(args ...string) ([]byte, error) {
		return stdout(t, func() error {
			return Run(context.Background(), append([]string{"passages", "--api", srv.URL, "--token", tok, "--case", "PV/9", "--from", "72h"}, args...))
		})
	}
	// 1250 passages of the plate: two pages of the API for a limit of 1100.
	b, err := run("--plate", "1-ABC-234", "--limit", "1100", "--format", "csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil || len(rows) != 1101 || rows[0][0] != "ts" {
		t.Fatalf("csv: %d rows, %v", len(rows), err)
	}
	for i, r := range rows[1:] {
		if want := fmt.Sprintf("r%04d", 2498-2*i); r[1] != "1ABC234" || r[8] != want {
			t.Fatalf("row %d: %v, want read %s of 1ABC234 (time order)", i, r, want)
		}
	}
	b, err = run("--pattern", "1AB?234", "--limit", "5000", "--format", "json")
	var ps []passageOut
	if err != nil || json.Unmarshal(b, &ps) != nil || len(ps) != 2500 {
		t.Fatalf("json: %d passages, %v", len(ps), err)
	}
	if b, err = run("--camera", "CAM-1", "--limit", "3"); err != nil || strings.Count(string(b), "\n") != 4 || !strings.HasPrefix(string(b), "ts ") {
		t.Errorf("table: %v\n%s", err, b)
	}
	if _, err := run("--pattern", "*"); err == nil || !strings.Contains(err.Error(), "bad_pattern") {
		t.Errorf("pattern *: %v, want the API's refusal", err)
	}
	if err := Run(context.Background(), []string{"passages", "--api", srv.URL, "--token", tok, "--plate", "1ABC234"}); err == nil || !strings.Contains(err.Error(), "--case") {
		t.Errorf("without --case: %v", err)
	}
}
