//go:build ignore

// gen writes the sample hotlists and the dev tokens of the sample network,
// deterministically: the same files on every run.
//
//	cd testdata && go run gen.go
//
// It prints the auth.users block for anpr.yaml.
package main

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// now is the date the sample data was made for: validity windows are around it.
var now = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

var rng = rand.New(rand.NewPCG(2026, 1122))

var header = []string{"list", "plate", "country", "category", "priority", "action", "reference",
	"valid_from", "valid_until", "covert", "reason"}

func main() {
	if err := os.MkdirAll("hotlists", 0o755); err != nil {
		log.Fatal(err)
	}
	write("hotlists/stolen.csv", stolen(200))
	write("hotlists/wanted-covert.csv", covert(20))
	write("hotlists/uninsured.csv", uninsured(500))
	tokens()
}

func write(path string, rows [][]string) {
	f, err := os.Create(filepath.FromSlash(path))
	if err != nil {
		log.Fatal(err)
	}
	w := csv.NewWriter(f)
	w.Write(header)
	w.WriteAll(rows)
	if err := w.Error(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

func letter() byte { return letters[rng.IntN(len(letters))] }
func digit() byte  { return byte('0' + rng.IntN(10)) }
func digit1() byte { return byte('1' + rng.IntN(9)) }

func pattern(p string) string {
	b := make([]byte, len(p))
	for i := range p {
		switch p[i] {
		case 'L':
			b[i] = letter()
		case 'D':
			b[i] = digit()
		case 'N':
			b[i] = digit1()
		default:
			b[i] = p[i]
		}
	}
	return string(b)
}

// plateOf returns a normalized plate in the country's format.
func plateOf(country string) string {
	switch country {
	case "NL":
		return pattern([]string{"LLDDDL", "LDDDLL", "LLLDDL", "DDLLLD"}[rng.IntN(4)])
	case "FR":
		return pattern("LLDDDLL")
	case "DE":
		return pattern([]string{"LLLDDD", "LLLDDDD", "LLLDD", "LLDDDD"}[rng.IntN(4)])
	case "LU":
		return pattern("LLDDDD")
	}
	if rng.IntN(10) == 0 {
		return pattern("LLLDDD") // pre-2010 series, still on the road
	}
	if rng.IntN(4) == 0 {
		return "2" + pattern("LLLDDD")
	}
	return "1" + pattern("LLLDDD")
}

type uniq map[string]bool

func (u uniq) plate(country string) string {
	for {
		p := plateOf(country)
		if !u[p] {
			u[p] = true
			return p
		}
	}
}

func day(t time.Time) string { return t.Format(time.RFC3339) }

// around returns a date between daysBefore before now and daysAfter after it.
func around(daysBefore, daysAfter int) time.Time {
	return now.AddDate(0, 0, rng.IntN(daysBefore+daysAfter+1)-daysBefore)
}

func stolen(n int) [][]string {
	u := uniq{}
	var rows [][]string
	for i := range n {
		country := "BE"
		switch {
		case i%25 == 3:
			country = "NL"
		case i%29 == 5:
			country = "FR"
		case i%41 == 7:
			country = "DE"
		}
		from := around(420, 0)
		var category, action, reason, ref string
		prio := 1
		switch r := rng.IntN(10); {
		case r < 7:
			category, action = "stolen_vehicle", "intercept"
			reason = []string{"theft reported ", "carjacking reported ", "theft from dealer lot reported ",
				"home-jacking reported ", "keyless relay theft reported "}[rng.IntN(5)] + from.Format("2006-01-02")
		case r < 9:
			category, action, prio = "stolen_plate", "stop_check", 2
			reason = "plate(s) stolen, reported " + from.Format("2006-01-02")
		default:
			category, action = "stolen_vehicle", "intercept"
			reason = "vehicle used in armed robbery " + from.Format("2006-01-02")
		}
		until := day(from.AddDate(1, 0, 0))
		switch {
		case i%17 == 0: // recovered: closed in the past
			closed := from.AddDate(0, 0, 10+rng.IntN(60))
			if !closed.Before(now) {
				closed = now.AddDate(0, 0, -1-rng.IntN(20))
			}
			if !closed.After(from) { // reported and recovered: the alert ran ten days
				from = closed.AddDate(0, 0, -10)
			}
			until = day(closed)
			reason += "; vehicle recovered " + closed.Format("2006-01-02")
		case i%31 == 1: // starts later: rental contract ends then
			from = now.AddDate(0, 0, 3+rng.IntN(30))
			until = day(from.AddDate(0, 6, 0))
			category, action, prio = "stolen_vehicle", "intercept", 2
			reason = "rental vehicle not returned; alert effective at contract end " + from.Format("2006-01-02")
		case i%5 == 0: // open-ended until recovered
			until = ""
		}
		ref = fmt.Sprintf("PV-%d-%06d", from.Year(), 1000+rng.IntN(90000))
		if country != "BE" {
			ref = fmt.Sprintf("SIS-%s-%d-%05d", country, from.Year(), rng.IntN(100000))
			reason = "SIS II alert: " + reason
		}
		rows = append(rows, []string{"stolen", u.plate(country), country, category, strconv.Itoa(prio),
			action, ref, day(from), until, "false", reason})
	}
	return rows
}

func covert(n int) [][]string {
	u := uniq{}
	var rows [][]string
	cats := []struct{ category, reason string }{
		{"organised_crime", "vehicle of interest in organised-crime inquiry"},
		{"drugs_trafficking", "suspected drugs courier, observe only"},
		{"wanted_person", "driver subject of European arrest warrant, do not intercept"},
		{"terror_watch", "OCAM/CUTA watch list vehicle"},
		{"human_trafficking", "suspected human-trafficking transport"},
	}
	units := []string{"FGP-BXL", "FGP-ANT", "FGP-GNT", "FGP-NAM", "DJSOC"}
	for i := range n {
		country := "BE"
		if i%6 == 4 {
			country = []string{"NL", "FR", "DE", "LU"}[rng.IntN(4)]
		}
		c := cats[rng.IntN(len(cats))]
		from := around(200, 0)
		until := from.AddDate(0, 6, 0)
		if i == 7 { // inquiry closed
			until = now.AddDate(0, 0, -12)
			from = until.AddDate(0, -6, 0)
		}
		if i == 13 { // observation starts next week
			from = now.AddDate(0, 0, 7)
			until = from.AddDate(0, 3, 0)
		}
		ref := fmt.Sprintf("%s-%d-%04d", units[rng.IntN(len(units))], from.Year(), rng.IntN(10000))
		rows = append(rows, []string{"wanted-covert", u.plate(country), country, c.category, "1",
			"covert_observe", ref, day(from), day(until), "true", c.reason + "; report position to case officer"})
	}
	return rows
}

func uninsured(n int) [][]string {
	u := uniq{}
	var rows [][]string
	for i := range n {
		country := "BE"
		from := around(150, 10) // a few flagged for next week's lapse
		until := from.AddDate(0, 0, 90)
		reason := "no valid third-party liability insurance (DIV/FCGB match " + from.Format("2006-01-02") + ")"
		if i%23 == 0 {
			reason = "insurance cancelled for non-payment, registration not returned"
		}
		ref := fmt.Sprintf("FCGB-%d-%06d", from.Year(), 100000+i*37+rng.IntN(37))
		rows = append(rows, []string{"uninsured", u.plate(country), country, "uninsured", "3",
			"stop_check", ref, day(from), day(until), "false", reason})
	}
	return rows
}

func mustParse(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		log.Fatal(err)
	}
	return t
}

// tokens writes dev-tokens.txt and prints the users block for anpr.yaml.
func tokens() {
	users := []struct{ role, name, roles string }{
		{"gateway", "gw-edge-1", "gateway"},
		{"dispatch", "ops-room-1", "dispatch"},
		{"covert", "ops-room-covert", "dispatch, covert"},
		{"enforcement", "tc-backoffice-1", "enforcement"},
		{"investigator", "inv-0042", "investigator"},
		{"admin", "admin-1", "admin"},
		{"auditor", "audit-coc", "auditor"},
	}
	var txt strings.Builder
	for _, u := range users {
		seed := sha256.Sum256([]byte("anpr-dev-token/" + u.role))
		token := "anpr-dev-" + u.role + "-" + hex.EncodeToString(seed[:10])
		sum := sha256.Sum256([]byte(token))
		fmt.Fprintf(&txt, "%s %s\n", u.role, token)
		fmt.Printf("    - {name: %s, roles: [%s], token_sha256: %s}\n", u.name, u.roles, hex.EncodeToString(sum[:]))
	}
	if err := os.WriteFile("dev-tokens.txt", []byte(txt.String()), 0o644); err != nil {
		log.Fatal(err)
	}
}
