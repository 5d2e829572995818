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
//  4. store.Write makes passages and hits durable in one batch. A passage's
//     key is (plate, capture time, read_id digest) and a hit's id is a
//     function of (read_id, list, entry plate), so a read processed again
//     overwrites its passage with the same bytes and its hits are known.
//  5. Hits are produced to the hits topic and acknowledged by the broker;
//     rejects to the DLQ.
//  6. Only then ingest marks the offsets committable.
//
// A crash anywhere replays from the last commit; step 4 makes the replay
// yield no second passage or hit, and step 5 publishes again what might not
// have been published (the Suppressor lets a hit through again when it is
// the very hit it remembers).
//
// # Shutdown
//
// Front to back: the consumer stops fetching, each worker finishes its batch
// in hand and commits; then the HTTP server drains; Close closes the store
// last.
package engine
