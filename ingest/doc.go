// Package ingest brings camera reads in: it consumes the reads topic as a
// Kafka consumer group, decodes and validates every record into a
// plate.Read, sends the bad ones to the dead-letter topic with a reason, and
// commits offsets only after a Processor has made a batch durable. It also
// serves POST /api/v1/reads for gateways that cannot speak Kafka.
//
// # Model
//
// One Consumer joins the group. For each generation it starts one worker per
// assigned partition (kafka-go ConsumerGroup + one partition Reader each).
// A worker owns its partition: it fetches, forms a batch from what is
// already buffered (so batches grow under load and stay small when idle),
// decodes, hands the valid reads to its own Processor, produces rejects to
// the DLQ, and then marks the batch's offsets committable; one goroutine
// per generation commits every partition's offset in one request every
// CommitInterval, and each worker once more when it stops. Per-plate order
// holds because gateways key reads by normalized plate (murmur2), so a plate
// always lands in one partition and so in one worker.
//
// # Caveats
//
// Offsets are committed at most every CommitInterval, so a crash replays up
// to that much; the Processor must be idempotent (the store dedupes by
// read_id). A record whose value cannot even be decoded as a Read is never
// retried: it goes to the DLQ once per delivery.
package ingest
