// Package matcher matches plate reads against hotlists in real time
// (SPEC §4, §5).
//
// # Model
//
// A Matcher is created with the lists' settings (New), loaded in bulk
// (Load, e.g. from ReadCSV) and kept up to date one change at a time
// (Apply, the upserts and tombstones of the anpr.hotlists topic). Match
// checks one read and appends a Hit per list entry it matches; MatchBatch
// does the same for a batch of reads, hits in read order, several times
// faster per read on large lists (see Index). Entries looks an entry up;
// Lists gives the lists and their sizes. A partition worker passes each
// hit through its own Suppressor, which drops repeats of the same entry at
// the same camera within the list's suppress window.
//
// Matching, per list mode:
//   - Exact: the read's normalized plate equals the entry's.
//   - OCR: the plates are equal after mapping OCR-confusable characters to
//     one class (Options.OCR, a plate.OCRTable). Hit.Match says Exact when
//     the normalized plates are identical, OCR otherwise.
//   - Fuzzy: the optimal string alignment distance between the plates
//     after the OCR mapping is at most List.MaxDistance (default 1, at
//     most 2). Hit.Match is Exact or OCR at distance 0, else Fuzzy with
//     Hit.Distance. OSA is Damerau–Levenshtein restricted to edit no
//     substring twice; at distance 1 the two are the same, at 2 they differ
//     only for an edit inside a transposed pair (fuzzy.go says why).
//
// An entry matches only while ValidFrom ≤ read.TS < ValidUntil (a zero
// bound is unbounded; bounds are kept to the millisecond), and only when
// the read's and the entry's countries agree or either is empty. Several
// lists, and several entries of one OCR or Fuzzy list, may hit the same
// read.
//
// # Index
//
// The index has three keyspaces: exact keys (the normalized plate) for
// Exact lists, canonical keys (the OCR canonical form) for OCR and Fuzzy
// lists, and the deletion neighbourhoods of the canonical keys of Fuzzy
// entries (fuzzy.go): a fuzzy read probes its own 1+n variants (n the
// plate length, at distance 1) and verifies each candidate's distance, so
// no list is ever scanned. Nearly all those probes miss, so each shard of
// the fuzzy keyspace has a bloom filter of its variants that reads one
// word per probe (filter.go); only the variants it passes reach the
// table. Without OCR lists, the canon lookup of a read waits for the
// filter too: it can find a Fuzzy entry only when the filter has the
// read's canonical form, a variant of itself. A key is a bijective 64-bit code of the string
// (key.go), so equal hashes mean equal keys and exact entries do not store
// their plate. A keyspace with no entries is skipped.
//
// Each keyspace is split into Options.Shards shards by hash range. A shard
// is immutable: an open-addressing table (table.go, 8-byte slots: a 32-bit
// fingerprint confirmed against the full hash, and a position) from the
// key hash to a run of postings sorted by hash, each referring to a record
// in the shard's arena. An entry is stored packed (record.go): list,
// flags, times as Unix milliseconds, country, category and action as ids
// of a shared interner, reference and reason as text; an Entry is built
// only for a hit or a lookup.
//
// Load and Apply build a new index generation off to the side and publish
// it with an atomic pointer swap; Match and MatchBatch never lock and
// never see a half-applied change. Apply rebuilds only the shards its
// changes fall in (copy on write), in parallel: it rewrites their postings
// and tables, but appends records to an arena shared with the previous
// generation, so an unchanged record is never copied; a shard's arena is
// compacted once its garbage exceeds a quarter of its live records. Load
// is Apply on an empty index, with the changes of each shard sorted by a
// bucket pass on the hash.
//
// A miss, the common case, reads one 64-byte bucket; at 1e7 entries that
// is a DRAM access. MatchBatch therefore hashes a group of reads, then
// touches all their buckets (and the filter words of their fuzzy
// variants) in a tight loop so that the misses are in flight together,
// then looks them up (match.go). Tables from 2 MB on are
// advised to use transparent huge pages on Linux, which shortens the page
// walk of every miss (only where the memory is fresh from the kernel).
//
// # Figures
//
// Measured on the 2-core CI VM while other jobs ran (load average 3–7, so
// wall times are inflated; CPU figures are steadier), commands in
// bench_test.go:
//   - Memory: 89 heap bytes per entry with every field set (14-byte
//     reference, 25-byte reason), 892 MB at 1e7 entries (BenchmarkLoad,
//     input dropped); about 39 B/entry with plate and list only. A Fuzzy
//     entry takes 350 B at distance 1 and 920 B at distance 2 (its
//     variants and their filters, 10 and 24 B of it; BenchmarkMatchFuzzy).
//     Apply may leave up to 25 % more in garbage records.
//   - Load of 1e7 entries: 13 s wall, 12.8 s CPU (20 s wall under heavier
//     load); it holds the entries, one copy of their records and the new
//     index at once.
//   - Apply at 1e7 entries: one change p50 12 ms, p99 22 ms; 1000
//     changes, which touch every shard, p50 261 ms, p99 625 ms
//     (BenchmarkApply, 100 calls each; an earlier run under heavier load,
//     before the binary search in mergeShard, had p99 1.95 s). Larger
//     batches cost no more than rewriting every shard.
//   - MatchBatch at 1e7 entries: exact 139 CPU ns per check (7.2 M/s per
//     core), ocr 213 ns (4.7 M/s). Fuzzy at 1e6 entries, distance 1:
//     370–500 CPU ns per check (2.0–2.7 M/s per core; 500–780 ns at load
//     average 4–5), against 1.35–1.39 µs without the variant filters,
//     prefetching and skipped canon lookups, run back to back; 195–203 ns
//     at 1e3 entries, the computing. Distance 2: 29–36 µs (1.3 hits per
//     read among 1e6 random plates: the verifying and the hits dominate).
//
// # Metrics
//
// anpr_matcher_checks_total (added by callers with CountChecks, per
// batch), anpr_matcher_hits_total{list} (before suppression),
// anpr_matcher_suppressed_total{list}, anpr_matcher_entries{list}.
//
// # Caveats
//
// An Apply that touches every shard costs as much as rewriting the
// postings and tables of the whole index (about a quarter of its memory),
// and holds the old and the new shards at once. Interned values
// (country, category, action) are never freed; past 65536 distinct values
// they are stored inline. Text fields are limited to 4096 bytes. Entries
// are not logged, and errors name an entry by its position or CSV line,
// never by plate.
package matcher
