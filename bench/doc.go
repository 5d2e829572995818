// Package bench holds the workloads behind `anpr bench`. Each workload is
// a Config struct with a Run method that returns its figures, with no
// mutable globals (as cockroachdb/pebble's bench/).
//
// E2E pushes realistic camera traffic (internal/simulate: section
// passages, listed plates, OCR confusions, fuzzy misreads, duplicates)
// through Kafka and the whole pipeline (decode, match, section control,
// store with fsync, hits and violations produced, offsets committed) and
// reports throughput, CPU per million reads, read→hit latency, peak RSS and
// bytes per passage on disk.
//
// Matcher loads a generated list of any size and mode and matches the same
// kind of traffic against it with MatchBatch, as the engine does, reporting
// checks per core (process CPU time), heap per entry and load time.
package bench
