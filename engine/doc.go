// Package engine wires the pipeline and owns its goroutines: the ingest
// consumer (one worker per partition), store maintenance, and the HTTP API.
//
// # Data flow of one batch (one partition worker, in order)
//
//  1. ingest decodes the records; rejects are queued for the DLQ.
//  2. A read_id seen earlier in the batch is dropped.
//  3. The matcher checks each read; the partition's Suppressor drops
//     repeats within a list's suppress window (capture time). A new worker
//     rebuilds its Suppressor from the hits stored in the last hours.
//  4. The partition's sectioncontrol.Tracker observes every read (repeats
//     included, so a replay sees what the live run saw) and returns the
//     decisions that became final; each violation gets its evidence from
//     the batch or the stored passage (read first from what was written
//     since the store.Mark taken before its entry read's batch, so that
//     the older tables are skipped) and is produced to the violations
//     topic.
//  5. store.Write makes passages, hits, violations and the tracker's
//     checkpoint durable in one batch. A passage's key is (plate, capture
//     time, camera and read_id: the gateway form's sequence number, else a
//     digest) and a hit's id is a function of (read_id, list,
//     entry plate), so a read processed again overwrites its passage with
//     the same bytes and its hits are known.
//  6. Hits are produced to the hits topic and acknowledged by the broker,
//     while step 5 runs (the offsets wait for both, so their order does
//     not matter to what is kept); rejects to the DLQ.
//  7. Only then ingest marks the offsets committable.
//
// When a partition is idle for the commit interval, Idle lets the tracker
// take the decisions that wait for input to go quiet (idle_flush); they are
// published, then stored with the checkpoint that records the flush.
//
// # Restart of section control
//
// Rewind loads the partition's checkpoint and restores the Tracker, which
// names the offset S of the oldest read it still needs; ingest re-reads from
// S to the committed offset in Replay batches, which feed the tracker only.
// Whatever the tracker decides on the way was published and stored before
// (violations are published before they are stored, with the checkpoint),
// so it is not published again; a violation the store did not know would
// mean a replay that decided otherwise, and is stored, published and logged.
//
// A crash anywhere replays from the last commit; step 5 makes the replay
// yield no second passage or hit, and step 6 publishes again what might not
// have been published (the Suppressor lets a hit through again when it is
// the very hit it remembers).
//
// # Shutdown
//
// Front to back: the consumer stops fetching, each worker finishes its batch
// in hand and commits; then the HTTP server drains; Close closes the store
// last.
package engine
