// Package hotlist keeps the matcher's hotlists in step with the compacted
// Kafka topic anpr.hotlists, the source of truth every instance follows
// (SPEC §2, §4, §8), and publishes changes to it.
//
// # Model
//
// A record's key is "<list>/<normalized plate>" and its value the SPEC §4
// entry JSON with the normalized plate; a tombstone (empty value) deletes
// the entry. Compaction keeps the last record per key, so replaying the
// topic from the start rebuilds every list.
//
// A Follower reads every partition from the earliest offset, without a
// consumer group, since every instance needs every change. One goroutine
// per partition fetches record batches over its own connection and
// decodes them (a hand-written parser for the JSON our Publisher writes,
// encoding/json for anything else); one applies them with matcher.Apply,
// which swaps in a new index atomically, so matching never waits. Records
// of a key all sit in one partition, and a partition's records are
// applied in offset order, so the last change to an entry wins. The
// Follower is ready once every partition is applied up to the high
// watermark it had when Run started.
//
// While replaying the topic at start, the Follower applies up to 131072
// changes per Apply, since an Apply costs a pass over the index besides
// its changes; once ready, it applies whatever has arrived at once, up to
// Config.MaxBatch changes. The replay costs about 2.5 µs of CPU per record
// (broker included, BenchmarkReplay); at 1e7 records about 25 CPU-seconds.
// The entries loaded from files before Run stay unless the topic changes
// them.
//
// A Publisher validates entries with the matcher's rules (Check) and
// writes them with acks=all; it never touches a Matcher: a change is in
// force once the Followers apply it.
//
// # Caveats
//
//   - The partitions are those of the topic when Run starts; partitions
//     added later are not followed until the next restart.
//   - A Follower waits (and is not ready) while the topic does not exist:
//     create it compacted (anpr dev and the embedded broker do). The
//     Publisher's writer creates a missing topic with the broker defaults,
//     which are not compacted.
//   - Readiness counts offsets: a partition whose last record before the
//     start watermark is invisible to kafka-go (a transaction marker) would
//     never become ready. anpr does not write transactions.
//   - The changes of a replay batch wait in memory, about 370 bytes each,
//     100 MB at most (a batch being applied and one being gathered).
//   - With Config.AddedSince, the entries the replay puts from there on
//     wait in memory until ready (about the size of their records): a
//     position far behind costs that much.
//   - anpr_hotlist_apply_seconds observes only records written after Run
//     started: the replay at start would swamp the "in force within a
//     second" figure with the age of old records.
package hotlist
