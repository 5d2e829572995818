package main

import (
	"fmt"
	"strings"
)

// Report is the Markdown table of the naive and tuned baselines and of
// ours (`anpr bench e2e --json`, whose figures share the JSON names), with
// ours over each: throughput ratio, and CPU per read ratio (theirs over
// ours, so that above 1 means ours is cheaper).
func Report(naive, tuned, ours Result) string {
	var b strings.Builder
	b.WriteString("| build | reads | reads/s | CPU-s per million reads (all processes) | bytes per stored passage | ours ÷ it, reads/s | it ÷ ours, CPU per read |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	row := func(name string, r Result) {
		fmt.Fprintf(&b, "| %s | %d | %.0f | %.1f | %.0f | %s | %s |\n", name, r.Reads, r.ReadsPerS, r.CPUSPerMillion,
			r.BytesPerPassage, ratio(ours.ReadsPerS, r.ReadsPerS), ratio(r.CPUSPerMillion, ours.CPUSPerMillion))
	}
	row("naive: SISMEMBER + INSERT per read", naive)
	row("tuned: pipelined SMISMEMBER + COPY per batch", tuned)
	row("anpr (bench e2e)", ours)
	return b.String()
}

func ratio(a, b float64) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f×", a/b)
}
