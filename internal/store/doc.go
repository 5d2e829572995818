// Package store keeps anpr's passages, event logs (hits, violations) and
// small per-partition state (section-control checkpoints) in Badger. Badger types stay inside this package.
//
// # Model
//
// Every valid read is stored as a passage under a key that is its identity.
// A read is identified by (camera, read_id, plate, capture time); the same
// read_id arriving with another plate, time or camera is a different read,
// stored too; this is the price of dedupe without a lookup. A read
// processed again (gateway retry, Kafka replay after a crash) has the same
// camera, plate, capture time and read id, so Write overwrites its passage
// with identical bytes: a blind set, no lookup, nothing for conflict
// detection to track.
//
// Hits are an append-only log read with a cursor, for the HTTP API and the
// server-sent-events stream; Notify wakes the stream when a Write appends.
// A hit must get one sequence only, so its id is looked up: a hit whose id
// is in the log is skipped (counted as known), whatever its read. A read
// processed again with a hit it did not have before (a hotlist changed in
// between) stores that hit. RecentEvents scans the log backwards from its end,
// for a worker rebuilding its suppress windows at partition start.
//
// # Key layout
//
//	'P' plate_norm 0x00 ts(8) read  → passage value    expires ts+retention
//	'C' hour(4) camera 0x00 digest(8) → camera block   expires its last ts+retention
//	'G' day(2) bucket(1) digest(8)    → trigram block  expires end of day+retention
//	'J' id(8)                       → journal entry    deleted once in blocks
//	'D' code(4)                     → camera id        never expires (camera dictionary)
//	log seq(8)                      → event value      expires event ts+retention
//	lower(log) event id             → seq(8)           expires event ts+retention
//	'S' log                         → last seq(8)      never expires
//	'K' name                        → state value      never expires (Batch.State)
//	'F'                             → format version   never expires (Open checks it)
//
// ts is the capture time in unix milliseconds with the sign bit flipped,
// big-endian, so one plate's passages between two times are one range scan
// in time order. read names the read among those of its plate and
// millisecond. For a read id of the gateway form camera/20060102T150405.000Z/n
// (SPEC §3's example, with the read's own camera and capture time) it is a
// byte k, n+1 in k big-endian bytes (the fewest) and the uvarint of the
// camera's code in the camera dictionary 'D' (codes dense from 0, given at
// a camera's first Write in a transaction of their own, before any key
// holds them; at 12 700 cameras a code took 1.3 B a passage less than ids
// like "CAM-100042": anpr bench store --fill 10000000), and the read id is
// built again from them; else 0x00 and h = SHA-256(camera id as
// uvarint length and bytes, read id)[:8]: two such reads of one plate in
// the same millisecond are distinct unless their h collide (odds 2⁻⁶⁴ per
// such pair; the later would overwrite the earlier). SHA-256 (≈0.2 µs)
// rather than xxhash so that a crafted read id cannot be made to collide
// with another's. Both forms order by their bytes (a hash before a
// sequence number, sequence numbers in numeric order).
//
// The passage value holds what the key does not: a flags byte (vehicle class
// code in 3 bits; presence of confidence, lane and a plate as read that
// differs from plate_norm, and whether that plate is plate_norm with
// separators), then, when read holds h, camera_id and read_id, then the
// plate as read (if different: the separator byte and a bit mask of where
// it goes, else the string),
// country, confidence (uvarint of ×10000 when exact, else 8 bytes), lane
// (varint), image_ref, and the class string for a class outside the known
// ones. Strings are uvarint length + bytes; read_id and image_ref are
// derived strings (derive.go): literal runs and one-byte tokens for the
// camera id, the read id (in image_ref) and the capture time as
// 20060102T150405.000Z, 2006-01-02T15:04:05.000Z, 2006/01/02, 20060102 and
// 2006-01-02, which decoding computes again from the camera id, key time
// and read id. Any string round-trips exactly (all literal at worst, 1–2
// bytes more than plain); the SPEC's read id "CAM-E40-101/20261122T070000.123Z/1"
// becomes 8 bytes (34 as a string), "s3://anpr/2026/11/22/x.jpg" 20 (27).
// Times are kept to the millisecond; decoding gives back an identical
// plate.Read with TS in UTC.
//
// # Indexes
//
// Every query is served by an index, never a scan of everything: a plate's
// history by its 'P' range; a camera's passages by the camera index 'C',
// bucketed by unix hour (hour = floor(ts / 1 h)), so that "camera X from
// 02:00 to 03:00" reads the blocks of one camera-hour, and "every passage
// of an hour" (replay, Window) one prefix; a pattern by the trigram index
// 'G'. Both indexes are written in blocks, not a key per passage: a key
// costs Badger about 1.5 µs of memtable insertion (a skiplist of random
// keys: cache misses) and 8–10 B on disk, and with a camera key and five
// trigram keys a new plate-day the end-to-end pipeline ran at 58 k reads/s
// and 27 CPU-s per million, against 157 k and 10.3 with the passages alone
// (anpr bench e2e, 1e6 reads, 2026-12-02).
//
// A write transaction puts its postings (camera, ts, plate, read, and whether
// the plate-day's trigrams go with it) in one journal entry 'J' beside its
// passages, so they are durable together; after the commit they are added
// to the pending postings in memory, which queries read along with the
// blocks. A flush (at IndexFlushPostings postings, after IndexFlushAge, and
// at Close) writes them as blocks, then deletes their journal entries; Open
// reads back a journal left by a crash. Block keys end with a digest of
// their content, so a block written twice is one key; a posting in two
// blocks (a read written again after the flush of its first write, a
// crash between a flush's blocks and its deletions) is one answer: readers
// sort and drop repeats.
//
// A camera block holds one camera-hour's postings of one flush, sorted by
// (ts, plate, read), by columns (camblock.go): each ts as its distance
// from the previous (from the hour's start for the first) in three bytes,
// the plates' lengths, their i-th characters for each i, the uvarint n+1
// of a gateway read id (the block's camera completes the passage key's
// read part) or 0, and the h of the 0s; each column Huffman-coded on its
// own (huff0), which codes like bytes in fewer bits than zstd's single
// literal table over interleaved postings (5.4 B a posting against 7.1 by
// columns and 10.0 by postings through zstd's default level). Once the feed
// is mergeLag (2) hours past an hour (and the clock too), the flusher
// merges each camera's blocks of it into one: a flush writes a block per
// camera-hour it holds, which at 12 700 cameras left blocks of about 19
// postings, most of their bytes key and Badger's entry; merged, an hour of
// a camera is one block of about 200. A later read of the hour adds a
// block, merged at the next pass. The merged block is durable before the
// old ones are deleted (a crash between leaves both: repeats, dropped by
// readers); the hours to merge are kept in memory, so Open marks the last
// six again (reopenHours), which also merges what a crash left. The read part makes
// each passage behind it one point lookup
// (txn.Get, which the tables' bloom filters keep to about one block read)
// rather than a seek, which reads a block at every level. At most 4096
// postings a block.
//
// A trigram block holds, for one capture day (unix day, UTC) and one of
// 256 buckets of trigrams, the postings of one flush: each trigram (of the
// plate's OCR-canonical form, plate.DefaultOCRTable, fixed so that an
// index outlives a configuration change), the number of its plates and the
// plates, sorted. A pattern with ? and * needs a run of 3 fixed
// characters; the middle trigram of its longest run selects a bucket per
// day, whose postings of that trigram give the candidate plates, checked
// against the pattern (exactly, or OCR-aware), and their passages read
// from 'P'. A plate's trigrams are posted at its first passage of a
// capture day only: a bloom filter per day (the two most recent days
// kept; blocked, one cache line per plate; sized by Options.PlatesPerDay
// at 7e-7 false positives, about 20 MB a day at the default 4 M plates)
// says "posted already", and is told so
// only after the commit. A false positive leaves a plate-day out of the
// pattern index; a restart empties the filters, so the first passages after
// it post their trigrams again (repeats, dropped by readers). Reads of older
// capture days post theirs every time.
//
// A camera block expires with its latest passage and readers drop the
// postings past retention; a trigram block at the end of its day plus
// retention. A journal entry never expires: it is deleted by the flush.
//
// Cursors of camera and pattern queries are base64url of the last
// passage's position (ts, plate, read part) and a 32-bit check of the
// query and that position: a cursor of another query or a changed one is
// ErrBadCursor.
//
// Event values are id, read id, capture time (varint ms) and the JSON bytes
// as given. Logs are a Log byte ('H' for Hits, 'V' for Violations), each
// with its own sequence and retention; Write sets Event.Known on the events
// whose id was already there. The 'S' high-water mark lets a sequence survive
// restarts even when every event of the log has expired, so an old cursor
// never points into new events.
//
// # Writes, concurrency and lock order
//
// Write drops reads past retention and repeats of a read within the batch,
// then writes the rest with their hits in one Badger transaction (split above
// ~2 MiB or 2730 reads, the hits going with the last reads). Passages are
// blind sets. Each hit id is looked up in the transaction; Badger's conflict
// detection makes a concurrent Write that stored one of them first fail ours
// with ErrConflict, and the transaction is retried. Sequences are assigned
// under seqMu, held until the commit returns, so they become visible in order
// and a cursor reader never skips one. Commit returns once Badger has the
// data: with SyncWrites (the default) after syncing the write-ahead log.
// Badger takes the transactions queued at once together but syncs its log
// once per transaction, so Write group-commits itself: concurrent Writes
// queue (groupMu); while fewer than two groups commit, the batches at the
// front, up to about one transaction, become a group committed in one
// transaction and one sync by its first Write. Two groups at a time let one
// build while the other syncs (one at a time halved the throughput at
// saturation). With twelve partition workers at 50 k reads/s this cut the
// engine's CPU per read by about a fifth (17–19 to 13–14 CPU-s per million)
// and the store write p50 from 4–8 ms to 2–4 ms.
//
// Putting the hits in the passages' transaction costs one sync per Write; a
// separate hit transaction measured 15–20 % slower with sync on (two syncs),
// even though it would hold seqMu for less. Blind chunks through
// db.NewWriteBatch measured the same CPU as a plain transaction (within the
// noise, 6–9 cpu-µs/passage both), so there is one path.
//
// Lock order: closeMu (read-held by every method, write-held by Close) →
// seqMu → notifyMu, and seqMu → dayFilter.mu; flushMu → postMu → the
// camera dictionary's mu → dayFilter.mu; the dictionary's regMu (held
// across a registration's write) → its mu. All
// methods are safe for concurrent use, Close included: it waits for methods
// in progress, and later calls return ErrClosed.
//
// # Retention
//
// Every key of a passage carries ExpiresAt = capture time +
// Options.Retention, of an event capture time + its log's retention
// (HitRetention, ViolationRetention; rounded up to the second); a read already past it is
// not stored and is counted. Badger skips expired keys at once and drops them
// in compaction. Keys are ordered by plate, so new writes flow through every
// key range and leveled compaction rewrites the old tables routinely (the
// bottom level roughly once per tenth of its size written); expired data
// therefore lingers a fraction of the retention, and Run only garbage-
// collects the value log (values are small and live in the LSM tree, so that
// is usually a no-op). A passage written again is a second version of its key
// until compaction keeps the newest only.
//
// # Badger settings and measured figures
//
// MemTableSize 32 MiB × 3 memtables, BaseTableSize 2 MiB, 2 compactors,
// block cache 32 MiB, index cache 256 MiB (tables' indexes and bloom filters:
// at 1e8 passages 32 MiB made a cold plate history p99 25 ms, 5 ms with 256),
// 16 KiB blocks, zstd level 1; the trigram blocks compressed by the store
// at zstd's default level before Badger sees them (sealBlock), the camera
// blocks by columns (camblock.go).
// Measured on the shared 2-core CI machine (load 2–3 from other jobs), each
// batch 1000 new reads and one new hit, before → after dropping the read id
// index, with the same benchmark harness, run back to back:
//
//	go test -run '^$' -bench 'Write' -benchtime 3s ./internal/store/
//	BenchmarkWrite/...                  passages/s      cpu-µs/passage   allocs/batch
//	batch=1000/writers=1/sync=true      54 k → 125 k    19.8 → 8.4       30.6 k → 12.2 k
//	batch=1000/writers=1/sync=false     66 k → 173 k    18.0 → 7.4       31.2 k → 12.2 k
//	batch=1000/writers=2/sync=true      72 k → 133 k    17.7 → 8.3       30.8 k → 12.2 k
//	batch=1000/writers=2/sync=false     71 k → 178 k    20.4 → 7.7       31.3 k → 12.2 k
//
// With a camera key and trigram keys per posting (format 2, 2026-12-02):
// BenchmarkDisk/passages=1e6 73 → 59.4 B/passage as the passage value got
// its derived strings ('P' 30.2, 'C' 24.1, 'G' 4.2); anpr bench store
// --fill 10000000: 67.5 B. With the indexes in blocks (format 3, same day,
// load 2–3):
//
//	go test -run '^$' -bench 'Disk' -benchtime 1x ./internal/store/
//	BenchmarkDisk/passages=1e6   53.9 B/passage after Flatten (62.3 after
//	    Close: deleted journal entries wait for compaction), 'P' 33.8,
//	    'C' 19.0 (667 postings a block: 17.8 B of content each, the plate
//	    and h), 9.5 cpu-µs/passage, 130 k passages/s synced
//	and with the read id's sequence number for h (format 4):
//	BenchmarkDisk/passages=1e6   46.6 B/passage after Flatten (55.6 after
//	    Close), 'P' 33.5, 'C' 12.1, 9.0 cpu-µs/passage
//	and with it in the passage key too (format 5, 2026-12-03; Close now
//	compacts level 0, so after Close = after Flatten):
//	BenchmarkDisk/passages=1e6   37.4 B/passage (three runs 37.41–37.46),
//	    'P' 24.1 (its value 32.7 B raw, camera and read id gone), 'C' 12.3
//	anpr bench store --fill 100000000, settled: 47.4 B/passage, 'P' 31.8
//	    (12 700 cameras: their ids in the keys repeat less within a block),
//	    'C' 12.7, 'G' 2.7; format 4's fill (not settled): 64.7
//	and with the index blocks sealed at zstd level 3 (format 6, same day;
//	Badger's level 1 found little to shrink in them, and its level 3 for
//	everything cost 20 % more CPU per passage for the same 'P'):
//	BenchmarkDisk/passages=1e6   33.2 B/passage (33.16–33.26), 'P' 23.9,
//	    'C' 8.2; 7.7 against 7.3–7.4 cpu-µs/passage alternated with format 5;
//	    anpr bench e2e 60.4–60.9 against 64.1–64.3 B, CPU per read level
//	and with camera blocks by columns (huff0), merged per camera-hour, and
//	camera codes in the passage keys (format 7, same day):
//	BenchmarkDisk/passages=1e6   29.7 B/passage, 'P' 22.5, 'C' 6.1 (one
//	    flush's blocks of 500 postings: nothing to merge)
//	anpr bench store --fill 10000000: 39.4–40.2 B (two runs) against format 6's 43.4
//	    ('P' 28.2 against 29.7; 'C' 9.4 against 12.5, of which the merged
//	    blocks 5.7, the rest old blocks compaction has not dropped yet:
//	    with the tree compacted into one level after a reopen, a test
//	    build, 35.6 and 'C' 6.2; a 2-byte camera id in format 6 took 'P'
//	    1.3 B lower)
//	anpr bench store --fill 100000000: 38.43–38.46 B/passage (two fills), 'P' 30.1, 'C' 6.4
//	    (520 700 blocks of 192 postings), 'G' 1.8; compacted into one
//	    level as above 38.27; format 6: 47.05
//	anpr bench e2e --reads 1000000, alternated with format 6: 52.3–52.5
//	    against 60.9–61.0 B, 10.1–10.9 against 11.4–11.7 CPU-s per million
//	anpr bench e2e --reads 1000000 (interleaved with format 2's build):
//	    97–100 k reads/s and 17.7–18.4 CPU-s per million, against 50–54 k
//	    and 29.6–30.2; 80 against 96 B/passage. With no index at all 102–
//	    103 k and 9.4–9.7: the indexes still cost about 6 CPU-s per million
//	    there, mostly the trigram postings (the run's plates are nearly all
//	    new of the day: five postings for every second read), zstd and
//	    compaction of the blocks and journal, and the day filter's 20 bloom
//	    probes per read, tested and then set (since one cache line each:
//	    blockBloom).
//
// Where BenchmarkDisk's 29.7 B go: the passage entry 22.5 B (12.7 B of
// content after zstd, the capture time most of it, plus Badger's 8–10 B an
// entry: 4 header, 4 entry offset, 8 version, 2 meta, 5 ExpiresAt varint
// before compression, bloom filter and block index), the camera posting
// 6.1 B (the plate and the time by columns; 8.2 B through zstd's default
// level, format 6, and 12.3 B with Badger's level 1 alone). Format 4's passage entry was 33.5 B: 8 of its
// 24 B of content were h, random, and the camera and read id were in the
// value. Measured alternatives under format 2: 64 KiB blocks 57.4 B
// (decompressing 4× the bytes per point lookup), 32 KiB 58.2, zstd level 3
// 59.5, bloom 5 % 58.6: none worth its cost. A camera posting without its
// read part saves 1–9 B but makes each passage behind it a seek, which
// made camera hours several times slower; a shorter h makes a colliding
// read id cheap to craft.
//
// Other runs under heavier load (4) gave 70–100 k passages/s synced and 6–9
// cpu-µs/passage. Of the 12 allocations per passage left, about 11 are
// Badger's own per entry (key copies in the transaction, WAL encoding,
// skiplist assertions); the store's are a handful per batch (pooled buffers,
// SHA-256 over them). The old 31 k were those 11 twice (passage and 'R'
// entry), about 5 for the 'R' lookup, and the digest.
//
//	go test -run '^$' -bench 'Disk' -benchtime 1x ./internal/store/
//	BenchmarkDisk/passages=1e6   48 B/passage on disk after Close (48 after
//	    Flatten; 72 and 73 with the 'R' entries); raw value 112 B; 104 k
//	    passages/s sustained, synced, reads generated in the loop (was
//	    20–32 k); 10.8 cpu-µs/passage with compaction (was 29–35); peak RSS
//	    427 MiB for the whole benchmark process (was 510).
//
//	go test -run '^$' -bench 'Passages' -benchtime 20000x ./internal/store/
//	BenchmarkPassages/passages=1e5   p50 21 µs   p99 152 µs   10 rows
//	BenchmarkPassages/passages=1e6   p50 181 µs  p99 478 µs   10 rows (zstd block decompression)
//	(not re-measured since the 'R' entries were dropped: same 'P' keys, smaller tables)
//
// cpu-µs/passage is the process's CPU time (every goroutine, compactions
// included) divided by passages; on a shared machine it is steadier than
// wall-clock throughput.
//
// # Encryption
//
// Options.EncryptionKey turns on Badger's AES encryption of every table and
// log file. Badger encrypts data with data keys (rotated every 10 days) that
// its key registry keeps encrypted under the master key; RotateKey rewrites
// that registry under a new master key. Open checks the key against the
// registry first (ErrKey), because badger.Open failing on a mismatch leaves
// its cache goroutines behind.
//
// # Caveats
//
//   - The passage value changed with the derived strings (2026-12-02):
//     format 2; the indexes went into blocks the same day (format 3), the
//     camera postings dropped h for gateway read ids (format 4), and the
//     passage keys did too (format 5, 2026-12-03); the index blocks are
//     sealed (format 6, same day); camera blocks by columns, merged per
//     camera-hour, and camera codes in the passage keys (format 7, same
//     day). Open refuses a store of
//     another format, or one with data and no format key (written before),
//     with ErrFormat; there is no conversion (nothing was deployed):
//     refill a benchmark store, or replay the reads from Kafka into a new
//     data directory.
//   - A flush that keeps failing (a broken disk) keeps its postings, and
//     those that come after, in memory: the pending postings are bounded by
//     flushes succeeding, not by a cap; Writes on such a disk fail too.
//   - A deleted journal entry takes disk until compaction reaches the
//     journal's key range: level 0 holds them right after a burst of
//     writes, until Close compacts it (format 4's BenchmarkDisk, before
//     that: 55.6 B after Close, 46.6 after Flatten).
//   - Identity without a lookup: a read id sent again with another plate,
//     capture time (a gateway re-running OCR) or camera is a second
//     passage.
//   - A replay rewrites its passages: it costs as much CPU and write-ahead
//     log as new reads, and disk until compaction drops the old versions.
//   - A crash between two transactions of a split batch stores passages
//     without their hits; the caller, which commits its offsets only after
//     Write returns, writes the batch again and the hits are appended then.
//   - Writes with new hits commit one at a time (seqMu held through the
//     commit and its sync).
//   - RecentEvents stops after 256 events in a row captured more than an
//     hour before since: a burst of that many hits of reads more than an hour
//     late at the end of the log hides the events before it.
//   - With a bounded index cache, a DB much larger than memory reloads table
//     indexes and bloom filters on the hit id lookups and queries; 0 (all in
//     memory) would instead grow with the data (≈1.2 B per key for blooms).
package store
