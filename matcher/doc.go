// Package matcher matches plate reads against hotlists in real time
// (SPEC §4, §5).
//
// # Model
//
// A Matcher is created with the lists' settings (New) and loaded with
// their entries (Load, e.g. from ReadCSV or the anpr.hotlists topic). Match
// checks one read and appends a Hit per list entry it matches; MatchBatch
// does the same for a batch of reads, hits in read order, several times
// faster per read on large lists (see Index). A partition worker passes
// each hit through its own Suppressor, which drops repeats of the same
// entry at the same camera within the list's suppress window.
//
// Matching, per list mode:
//   - Exact: the read's normalized plate equals the entry's.
//   - OCR: the plates are equal after mapping OCR-confusable characters to
//     one class (Options.OCR). Hit.Match says Exact when the normalized
//     plates are identical, OCR otherwise.
//   - Fuzzy: accepted by New but, for now, matched exactly like OCR
//     (Hit.Match Exact or OCR, Distance 0), ignoring List.MaxDistance.
//     TODO(hotlist issue): Damerau–Levenshtein ≤ MaxDistance after the OCR
//     mapping, from a third keyspace beside the two below.
//
// An entry matches only while ValidFrom ≤ read.TS < ValidUntil (a zero
// bound is unbounded), and only when the read's and the entry's countries
// agree or either is empty. Several lists, and several entries of one OCR
// list, may hit the same read.
//
// # Index
//
// Each Load builds an immutable index and publishes it with an atomic
// pointer swap; Match and MatchBatch never lock and never see a half-built
// index. The index has two keyspaces: exact keys (the normalized plate)
// for Exact lists and canonical keys (the OCR canonical form) for OCR and
// Fuzzy lists. A keyspace with no entries is skipped, so the canonical
// form is only computed (into a stack buffer) when some OCR list has
// entries. Each keyspace is split into Options.Shards shards by the xxhash
// of the key; a shard is an immutable open-addressing table (table.go)
// from that 64-bit hash to a span of entries stored contiguously (8-byte
// slots: a 32-bit fingerprint, confirmed against the full hash, and a
// position), and a candidate's plate is compared before it hits, so hash
// collisions cannot cause false hits. Options.Bloom puts a bloom filter in
// front of each shard's table; it is off by default because it measured
// slower or equal except on OCR lists of about 1e5 entries.
//
// A miss, the common case, reads one 64-byte bucket; at 1e7 entries that
// is a DRAM access. MatchBatch therefore hashes a group of reads, then
// touches all their buckets in a tight loop so that the misses are in
// flight together, then looks them up (match.go). The tables of a
// keyspace share one allocation advised to use transparent huge pages on
// Linux, which shortens the page walk of every miss.
//
// Memory: about 200 bytes per entry (the Entry copy, 176 bytes, its hash,
// list index and table slot), measured at ten million entries with bloom
// filters, plus the strings of the Entry values given to Load, which the
// index keeps referencing. A Load holds the old and the new index at once
// and takes about 20 s of CPU at ten million entries.
//
// # Metrics
//
// anpr_matcher_checks_total (added by callers with CountChecks, per
// batch), anpr_matcher_hits_total{list} (before suppression),
// anpr_matcher_suppressed_total{list}, anpr_matcher_entries{list}.
//
// # Caveats
//
// Load replaces every entry and takes seconds at ten million entries;
// single-entry updates from anpr.hotlists need an incremental path (a
// shard rebuilt copy-on-write), not written yet. Entries are not logged,
// and errors name an entry by its position or CSV line, never by plate.
package matcher
