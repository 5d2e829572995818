// Package sectioncontrol pairs the entry and exit reads of section-control
// zones and decides average-speed violations (SPEC §6). Every ambiguity is
// resolved in the driver's favour: a wrong fine is worse than a missed one.
//
// # Model
//
// A Tracker belongs to one partition worker and is fed that partition's
// reads with Observe(read, offset), in partition order (a plate always lands
// in the same partition). Observe moves the watermarks and takes every
// decision that becomes final; Advance performs the idle flush and returns
// the decisions taken since the previous Advance. So the decisions, their
// order, late-read rejections and evictions are a function of the read
// sequence and of the idle flushes only, never of how the caller batches
// reads or when it calls Advance. The Tracker starts no goroutine and is not
// safe for concurrent use.
//
// For each section and plate the Tracker keeps the reads not yet decided
// and at most one decided entry awaiting its exit. Reads of one kind (entry
// or exit) less than or equal to dedupe apart form a cluster: an entry
// cluster is one entry at its earliest read, an exit cluster one exit at its
// latest read. Clusters are taken in the order of those times (an entry
// before an exit at the same millisecond): an entry becomes the plate's
// current entry (a previous unpaired one is unmatched_entry); an exit pairs
// with the current entry if it is at most max_travel older, else it is
// unmatched_exit; a current entry older than max_travel is unmatched_entry.
// So an exit pairs with the most recent entry before it, and each read pairs
// at most once; the same plate passing twice gives two pairs.
//
// A pair is, in this order: an anomaly when its duration is ≤ 0, when both
// reads carry a country and they differ, or when the measured speed exceeds
// max_plausible_kmh; compliant when floor(measured − margin) is not above
// the applicable limit; annulled when a camera of the pair has no
// certificate valid at its read's capture time; else a violation. The
// applicable limit is the highest limit in force at any moment of the
// passage, where the limit in force is the highest schedule window covering
// that local time (else the base limit), lowered to the class limit when
// both reads carry that class.
//
// # Finality
//
// Each section has a watermark W: the newest capture time observed (over
// all sections) minus max_lateness. W never goes back, and a read captured
// before W is ignored as late (counted). A cluster is final when its last
// read is more than dedupe before W, and clusters are decided strictly in
// their order, so a decision is taken only when no read that may still
// arrive could join, split, precede or replace anything it used; an entry
// expires once W passes it by max_travel. Hence reads reordered within
// max_lateness give exactly the decisions of capture order, and each
// decision is emitted once. The decisions one read (or one flush) makes
// final are sorted by capture time, section, plate and outcome.
//
// # Idle flush
//
// Once no read was observed for a section's idle_flush of processing time
// (night traffic), Advance forces its pending pairs: each plate's clusters
// are decided as if W were the newest capture time plus dedupe, up to the
// last exit cluster that pairs with an entry, and no further. Only pairs
// are forced because only they are worth the wait; a lone entry cluster (a
// vehicle inside the section), an unmatched exit and an entry expiry stay
// pending until W takes them, so their stragglers join them as usual. W is
// not moved: reads of other plates captured before the flush point are
// taken as ever (a vehicle right after the flush is paired normally).
//
// A forced pair leaves a shield on its plate and section (24 bytes, until W
// passes it): an entry read captured before max(E, the last forced entry
// read + dedupe + 1), and an exit read before max(E, the last forced exit
// read + dedupe + 1), where E is the forced pair's exit time, is dropped and
// counted late. The cases, against the uninterrupted order (no flush):
//   - A later duplicate of the forced exit would have lengthened the
//     duration (lower speed). The pair is issued already; deciding the
//     duplicate alone (unmatched exit) or with another entry could only add
//     a decision for the same passage, so it is dropped. The forced pair may
//     thus be faster than the uninterrupted one would have been: that is the
//     price of the flush, as before, and bounded by the exit duplicates not
//     yet received after idle_flush of silence.
//   - An earlier duplicate of the forced entry, or any entry read between
//     the pair's entry and exit: the uninterrupted order would pair the
//     latest such entry before the exit or keep the earliest of the
//     cluster; none may pair with the issued exit again. Left alone, it
//     would become a lone entry able to pair only with a later exit: a
//     second decision for one passage, or a pair across two passages
//     (longer, so slower than the true passage, but a passage nobody
//     measured). So it is dropped.
//   - Any read of the plate captured before the forced exit: the
//     uninterrupted order sorts it before the issued pair, so the decisions
//     it would have changed were taken without it; it is dropped: a missed
//     decision, never an extra one.
//   - A read of the plate after the shield: decided as usual; the state it
//     meets (no current entry after the pair) is the uninterrupted one.
//
// So a flush never creates a violation the uninterrupted order would not
// have, except the forced pair itself measured on the reads received, and
// never issues two for one passage. The flush is recorded as a mark (see
// replay), so decisions remain a function of the reads and the marks.
//
// # Routes
//
// Under route_policy highest, the sections naming one route follow one
// another in configuration order. A violation on a route's section is held
// until its traversal ends. Held violations of a plate are grouped in exit
// order: one joins the first traversal whose last violation it links (its
// section comes later in the route, its entry is at or after that one's
// exit, and its exit is within the sum of the max_travel of the sections
// from that one's to its own), else starts one. Linking violations
// directly, not through the pairs between them, needs no state for
// compliant vehicles, and a gap (a missed read in between) merges rather
// than splits: one fine instead of two. A traversal ends once the watermark
// of every section of the route has passed, by that section's dedupe, the
// latest exit that could still link to its last violation: that one's entry
// plus the max_travel of the sections from its own to the later one, or
// its entry alone for the sections up to its own; on the route's last
// section this is right after the pair. Then the highest excess (corrected
// minus limit; a tie goes to the earliest exit) is the violation and the
// others are superseded: counted, with Decision.Why the issued violation's
// id, not issued (no Violation). Traversals end by the natural watermark,
// never by an idle flush (which forces pairs, not the future), so a held
// violation may wait up to the route's max_travel sum of capture time. A
// held violation keeps its pair's reads in the replay (see below), so it
// survives a restart.
//
// # Restart by replay
//
// Nothing is persisted: Checkpoint returns a small versioned record (the
// watermark state at an offset S, the idle flushes and evictions since, the
// reads after S of groups decided with a read before it, and the shields)
// and, after a restart, Restore loads it into a new Tracker, which rebuilds
// the state by re-reading the partition from S. S is the start of the
// oldest pending entry's cluster, so a restart re-reads about max_travel
// plus max_lateness of the partition. Decisions of the replayed
// reads before the checkpoint are dropped (they were emitted before, and a
// replay lacking the reads before S could even take other ones); from the
// checkpoint on, the Tracker decides exactly as the old one would have. See
// replay.go for how S is kept.
//
// # State and privacy
//
// A pair or an unmatched read leaves no state behind: a plate's state is
// deleted as soon as it holds nothing undecided (a forced pair leaves a
// shield for a few minutes, a held route violation its Decision). A pending
// read is 24 bytes (capture time, offset, interned camera, class, country),
// inline in the section's table for the usual single read (an entry
// awaiting its exit), two packed in the slot's 24 bytes when they fit (an
// entry and its exit: small differences of capture time and offset, one
// country; packPair), in a 4-read chunk of the section for up to four (a
// duplicate), in a slice of its own beyond; the rest
// of the evidence (read_id, plate as read, image_ref, confidence, lane)
// stays in the engine's store (see Violation). The table (table.go) is open
// addressing keyed by the 8-byte plate key, key and value in one slot, at
// most 80 % full, growing by half. BenchmarkPendingMemory measures about 69
// bytes per vehicle inside a section at 1e6 vehicles (table slots and the
// entry's expiry item, with their slack), about 70 MB per million.
// Config.MaxPending caps the plate states; beyond it the state with the
// earliest due item (the oldest) is evicted and counted.
//
// # Performance
//
// Each read is due (looked at again) dedupe plus max_lateness after its
// capture, so due items arrive almost in order: they go to a ring of 64 ms
// buckets, each sorted when reached by a counting sort on the trigger
// (heap.go); a decided entry gets an expiry item (in a heap) only when no
// read of the plate is due before its expiry, which spares most vehicles
// one (their exit was read before their entry was final). An exit joining a
// lone undecided entry marks the entry's item redundant (Tracker.insert):
// the exit's item takes the same decisions in the same sweeps, so most
// vehicles cost one lookup on their due items, not two
// (TestSkipChangesNothing checks decisions, batches and checkpoints with
// and without). Such a plate, an entry and an exit both final, is decided
// without building clusters (decidePair; TestFastPairChangesNothing, and
// TestPackChangesNothing for packing, check the same with and without).
// A decision allocates nothing but a Violation: the plates of
// one Advance share one string. BenchmarkPairing/workload=steady, a
// long-lived stream with about 1e5 plates pending (500 vehicles/s, most
// pairing, some speeding, a few without entry or exit, duplicates, reads
// out of order by up to 2 s), measures 2.29-2.51 M reads/s per core
// (398-438 ns of process CPU a read, the decisions it causes and the
// harness's own included) on a shared 2-core Intel Xeon VM at load 3,
// 1.25 times the previous round's code in interleaved runs. What is left is
// mostly cache misses: the table slot of a plate on each insert and on the
// exit's due item, and the due items' buckets when sorted.
// The final flush costs about 2 µs per pending plate.
//
// # Caveats
//
// Capture times are kept to the millisecond (SPEC §3). The idle flush
// trades completeness for latency on the plates whose pairs it forces (see
// Idle flush); other plates are unaffected. An eviction picks the
// earliest due item, stale ones included (an entry whose exit is pending is
// due at that exit), so after a restore, in overload,
// an eviction after the checkpoint may pick another victim than the old
// Tracker would have (evictions before it are replayed exactly). A pair
// that is decided late (behind an entry cluster still growing) after its
// traversal ended starts a traversal of its own.
package sectioncontrol
