// Package sectioncontrol pairs the entry and exit reads of section-control
// zones and decides average-speed violations (SPEC §6). Every ambiguity is
// resolved in the driver's favour: a wrong fine is worse than a missed one.
//
// # Model
//
// A Tracker belongs to one partition worker and is fed that partition's
// reads with Observe, in partition order (a plate always lands in the same
// partition). Between batches the worker calls Advance with the processing
// time; Advance returns the decisions that became final. The Tracker starts
// no goroutine and is not safe for concurrent use.
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
// Each section has a watermark W: the newest capture time observed minus
// max_lateness, or, once no read was observed for idle_flush of processing
// time, the newest capture time plus dedupe; W never goes back, and a read
// captured before W is ignored as late (counted). A cluster is final when
// its last read is more than dedupe before W, and clusters are decided
// strictly in their order, so a decision is taken only when no read that may
// still arrive could join, split, precede or replace anything it used; an
// entry expires once W passes it by max_travel. Hence reads reordered
// within max_lateness give exactly the decisions of capture order, and each
// decision is emitted once.
//
// # State and privacy
//
// A pair or an unmatched read leaves no state behind: a plate's state is
// deleted as soon as it holds nothing undecided. Pending reads are kept
// compactly: capture time, interned camera, class and country inline, and the
// rest of the evidence (read_id, plate as read, image_ref, confidence, lane)
// packed into one string that owns its bytes, so a decoded record is never
// pinned. Config.MaxPending caps the plate states; beyond it the state with
// the earliest deadline (the oldest) is evicted and counted.
//
// # Caveats
//
// Capture times are kept to the millisecond (SPEC §3). The idle flush
// trades completeness for latency: a read arriving after a flush with a
// capture time before the new watermark is ignored. Routes (route_policy
// highest) and restart persistence are not implemented here yet.
package sectioncontrol
