package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/bench"
	"github.com/anpr/anpr/internal/broker"
	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/internal/simulate"
	"github.com/anpr/anpr/plate"
)

// Modes of the baseline consumer.
const (
	Naive = "naive" // per read: SISMEMBER, INSERT (autocommit), offset commit
	Tuned = "tuned" // per batch: pipelined SMISMEMBER, COPY in one transaction, offsets after commit
)

// Topics on the baseline's own embedded broker.
const (
	readsTopic = "anpr.reads"
	hitsTopic  = "baseline.hits"
	hotlistKey = "anpr:hotlist"
)

// Workload is one run of the baseline consumer on generated reads.
type Workload struct {
	// Mode is Naive or Tuned.
	Mode string
	// Traffic is the network and mix of the reads, as `anpr bench e2e`
	// uses it; its Listed plates are the Redis hotlist.
	Traffic simulate.Config
	// Reads to produce and consume; default 1,000,000.
	Reads int
	// Workers: consumers in one group, each with its own Redis and
	// PostgreSQL connection; default 4.
	Workers int
	// Batch: the most reads a tuned worker takes per transaction; default 2000.
	Batch int
	// Redis is host:port; Postgres a libpq connection string.
	Redis, Postgres string
	Logger          *slog.Logger
}

// Result is what one run measured. CPU figures are the seconds per million
// reads over the consuming window: of this process (consumer and embedded
// broker), of redis-server and of every PostgreSQL process.
type Result struct {
	Mode               string  `json:"mode"`
	Reads              int     `json:"reads"`
	Workers            int     `json:"workers"`
	Seconds            float64 `json:"seconds"`
	ReadsPerS          float64 `json:"reads_per_s"`
	CPUSPerMillion     float64 `json:"cpu_s_per_million"`
	ConsumerCPUPerM    float64 `json:"consumer_cpu_s_per_million"`
	RedisCPUPerM       float64 `json:"redis_cpu_s_per_million"`
	PostgresCPUPerM    float64 `json:"postgres_cpu_s_per_million"`
	Hits               int64   `json:"hits"`
	Passages           int64   `json:"passages"`
	BytesPerPassage    float64 `json:"bytes_per_passage"`
	PostgresTableBytes int64   `json:"postgres_table_bytes"`
}

// read is the SPEC §3 read as a team decodes it: encoding/json.
type read struct {
	ReadID       string    `json:"read_id"`
	CameraID     string    `json:"camera_id"`
	TS           time.Time `json:"ts"`
	Plate        string    `json:"plate"`
	Country      string    `json:"country"`
	Confidence   *float64  `json:"confidence"`
	Lane         *int      `json:"lane"`
	VehicleClass string    `json:"vehicle_class"`
	ImageRef     string    `json:"image_ref"`
}

// decode parses a read and normalizes its plate; ok is false for a read
// that is not JSON or whose plate does not normalize (skipped, as a DLQ
// would take it).
func decode(b []byte) (r read, norm string, ok bool) {
	if err := json.Unmarshal(b, &r); err != nil || r.ReadID == "" {
		return r, "", false
	}
	norm, ok = plate.Normalize(r.Plate)
	return r, norm, ok
}

// row is the passages row of r.
func row(r *read, norm string) []any {
	return []any{r.ReadID, norm, r.CameraID, r.TS, r.Country, r.Confidence, r.Lane, r.VehicleClass, r.ImageRef}
}

// hitJSON is the message a hit publishes: enough for dispatch.
func hitJSON(r *read, norm string) []byte {
	b, _ := json.Marshal(struct {
		ReadID   string    `json:"read_id"`
		Plate    string    `json:"plate"`
		CameraID string    `json:"camera_id"`
		TS       time.Time `json:"ts"`
		List     string    `json:"list"`
	}{r.ReadID, norm, r.CameraID, r.TS, hotlistKey})
	return b
}

var passageColumns = []string{"read_id", "plate", "camera_id", "ts", "country", "confidence", "lane", "vehicle_class", "image_ref"}

const schema = `
DROP TABLE IF EXISTS passages, hits;
CREATE TABLE passages (read_id text NOT NULL, plate text NOT NULL, camera_id text NOT NULL,
  ts timestamptz NOT NULL, country text NOT NULL, confidence real, lane smallint,
  vehicle_class text NOT NULL, image_ref text NOT NULL);
CREATE INDEX passages_plate_ts ON passages (plate, ts);
CREATE TABLE hits (read_id text NOT NULL, plate text NOT NULL, camera_id text NOT NULL,
  ts timestamptz NOT NULL, list text NOT NULL);`

const insertPassage = `INSERT INTO passages (read_id, plate, camera_id, ts, country, confidence, lane, vehicle_class, image_ref)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

const insertHit = `INSERT INTO hits (read_id, plate, camera_id, ts, list) VALUES ($1, $2, $3, $4, $5)`

// Run produces the reads to an embedded broker, loads the hotlist into
// Redis, creates the tables, and times the workers consuming every read.
func (w Workload) Run(ctx context.Context) (Result, error) {
	if w.Reads <= 0 {
		w.Reads = 1_000_000
	}
	if w.Workers <= 0 {
		w.Workers = 4
	}
	if w.Batch <= 0 {
		w.Batch = 2000
	}
	if w.Mode != Naive && w.Mode != Tuned {
		return Result{}, fmt.Errorf("mode %q: want %s or %s", w.Mode, Naive, Tuned)
	}
	log := w.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b, err := broker.Start(broker.Options{Topics: []string{readsTopic, hitsTopic}, Logger: log})
	if err != nil {
		return Result{}, err
	}
	defer b.Close()
	kc := kclient.Config{Brokers: []string{b.Addr()}}
	g, err := simulate.NewGenerator(w.Traffic)
	if err != nil {
		return Result{}, err
	}
	rw := kc.Writer(readsTopic)
	err = bench.ProduceReads(ctx, g, rw, w.Reads)
	rw.Close()
	if err != nil {
		return Result{}, err
	}
	log.Info("reads produced", "reads", w.Reads)

	rdb := redis.NewClient(&redis.Options{Addr: w.Redis, PoolSize: 2 * w.Workers})
	defer rdb.Close()
	if err := loadHotlist(ctx, rdb, w.Traffic.Listed); err != nil {
		return Result{}, err
	}
	conns := make([]*pgx.Conn, w.Workers)
	for i := range conns {
		if conns[i], err = pgx.Connect(ctx, w.Postgres); err != nil {
			return Result{}, fmt.Errorf("connect postgres: %w", err)
		}
		defer conns[i].Close(context.Background())
	}
	if _, err := conns[0].Exec(ctx, schema); err != nil {
		return Result{}, fmt.Errorf("create tables: %w", err)
	}
	hw := kc.Writer(hitsTopic)
	defer hw.Close()

	procs, err := serverProcs(ctx, rdb, conns[0])
	if err != nil {
		return Result{}, err
	}
	cpu0, err := procs.cpu()
	if err != nil {
		return Result{}, err
	}
	var consumed, hits atomic.Int64
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	group := "baseline-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	start := time.Now()
	errs := make(chan error, w.Workers)
	var wg sync.WaitGroup
	for i := range w.Workers {
		wk := &worker{w: &w, conn: conns[i], rdb: rdb, hits: hw, consumed: &consumed, hitCount: &hits,
			r: kafka.NewReader(kafka.ReaderConfig{Brokers: kc.Brokers, Topic: readsTopic, GroupID: group,
				Dialer: kc.Dialer(), StartOffset: kafka.FirstOffset, MinBytes: 1, MaxBytes: 10 << 20,
				MaxWait: 100 * time.Millisecond, QueueCapacity: 10000})}
		wg.Go(func() {
			defer wk.r.Close()
			if err := wk.run(runCtx); err != nil && runCtx.Err() == nil {
				errs <- err
			}
		})
	}
	var runErr error
	for consumed.Load() < int64(w.Reads) && runErr == nil {
		select {
		case runErr = <-errs:
		case <-ctx.Done():
			runErr = ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	cpu1, cpuErr := procs.cpu()
	stop()
	wg.Wait()
	if runErr != nil {
		return Result{}, runErr
	}
	if cpuErr != nil {
		return Result{}, cpuErr
	}
	res := Result{Mode: w.Mode, Reads: w.Reads, Workers: w.Workers, Seconds: elapsed.Seconds(),
		ReadsPerS: float64(w.Reads) / elapsed.Seconds(), Hits: hits.Load()}
	perM := func(d time.Duration) float64 { return d.Seconds() / float64(w.Reads) * 1e6 }
	res.ConsumerCPUPerM = perM(cpu1.self - cpu0.self)
	res.RedisCPUPerM = perM(cpu1.redis - cpu0.redis)
	res.PostgresCPUPerM = perM(cpu1.postgres - cpu0.postgres)
	res.CPUSPerMillion = res.ConsumerCPUPerM + res.RedisCPUPerM + res.PostgresCPUPerM
	err = conns[0].QueryRow(ctx, `SELECT count(*), pg_total_relation_size('passages') + pg_total_relation_size('hits') FROM passages`).
		Scan(&res.Passages, &res.PostgresTableBytes)
	if err != nil {
		return res, fmt.Errorf("measure tables: %w", err)
	}
	if res.Passages > 0 {
		res.BytesPerPassage = float64(res.PostgresTableBytes) / float64(res.Passages)
	}
	return res, nil
}

// loadHotlist replaces the Redis set with the listed plates.
func loadHotlist(ctx context.Context, rdb *redis.Client, listed []string) error {
	if err := rdb.Del(ctx, hotlistKey).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	for len(listed) > 0 {
		n := min(len(listed), 10_000)
		members := make([]any, n)
		for i, p := range listed[:n] {
			members[i] = p
		}
		if err := rdb.SAdd(ctx, hotlistKey, members...).Err(); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		listed = listed[n:]
	}
	return nil
}

// worker is one consumer of the group.
type worker struct {
	w                  *Workload
	r                  *kafka.Reader
	conn               *pgx.Conn
	rdb                *redis.Client
	hits               *kclient.Writer
	consumed, hitCount *atomic.Int64
}

func (k *worker) run(ctx context.Context) error {
	if k.w.Mode == Naive {
		return k.naive(ctx)
	}
	return k.tuned(ctx)
}

// naive handles one read at a time: SISMEMBER, INSERT in autocommit, on a
// hit an INSERT and a produce, then the offset commit.
func (k *worker) naive(ctx context.Context) error {
	for {
		m, err := k.r.FetchMessage(ctx)
		if err != nil {
			return err
		}
		if r, norm, ok := decode(m.Value); ok {
			listed, err := k.rdb.SIsMember(ctx, hotlistKey, norm).Result()
			if err != nil {
				return fmt.Errorf("redis: %w", err)
			}
			if _, err := k.conn.Exec(ctx, insertPassage, row(&r, norm)...); err != nil {
				return fmt.Errorf("insert passage: %w", err)
			}
			if listed {
				if _, err := k.conn.Exec(ctx, insertHit, r.ReadID, norm, r.CameraID, r.TS, hotlistKey); err != nil {
					return fmt.Errorf("insert hit: %w", err)
				}
				if err := k.hits.WriteMessages(ctx, kafka.Message{Key: []byte(norm), Value: hitJSON(&r, norm)}); err != nil {
					return fmt.Errorf("produce hit: %w", err)
				}
				k.hitCount.Add(1)
			}
		}
		if err := k.r.CommitMessages(ctx, m); err != nil {
			return err
		}
		k.consumed.Add(1)
	}
}

// tuned takes whatever is fetched (at most Batch reads), looks the batch up
// in one Redis round trip, COPYs it and its hits in one transaction,
// produces the hits, and only then commits the batch's offsets.
func (k *worker) tuned(ctx context.Context) error {
	fetched := make(chan kafka.Message, 2*k.w.Batch)
	fetchErr := make(chan error, 1)
	go func() {
		defer close(fetched)
		for {
			m, err := k.r.FetchMessage(ctx)
			if err != nil {
				fetchErr <- err
				return
			}
			fetched <- m
		}
	}()
	defer func() {
		for range fetched { // let the fetch goroutine end
		}
	}()
	var (
		msgs  []kafka.Message
		reads []read
		norms []string
		rows  [][]any
		hits  [][]any
		out   []kafka.Message
	)
	for {
		msgs = msgs[:0]
		m, ok := <-fetched
		if !ok {
			return <-fetchErr
		}
		msgs = append(msgs, m)
	more:
		for len(msgs) < k.w.Batch {
			select {
			case m, ok := <-fetched:
				if !ok {
					break more
				}
				msgs = append(msgs, m)
			default:
				break more
			}
		}
		reads, norms, rows, hits, out = reads[:0], norms[:0], rows[:0], hits[:0], out[:0]
		for _, m := range msgs {
			if r, norm, ok := decode(m.Value); ok {
				reads = append(reads, r)
				norms = append(norms, norm)
			}
		}
		listed, err := k.lookup(ctx, norms)
		if err != nil {
			return err
		}
		for i := range reads {
			rows = append(rows, row(&reads[i], norms[i]))
			if listed[i] {
				r := &reads[i]
				hits = append(hits, []any{r.ReadID, norms[i], r.CameraID, r.TS, hotlistKey})
				out = append(out, kafka.Message{Key: []byte(norms[i]), Value: hitJSON(r, norms[i])})
			}
		}
		if err := k.store(ctx, rows, hits); err != nil {
			return err
		}
		if len(out) > 0 {
			if err := k.hits.WriteMessages(ctx, out...); err != nil {
				return fmt.Errorf("produce hits: %w", err)
			}
			k.hitCount.Add(int64(len(out)))
		}
		if err := k.r.CommitMessages(ctx, msgs...); err != nil {
			return err
		}
		k.consumed.Add(int64(len(msgs)))
	}
}

// lookupChunk is the members per SMISMEMBER of a pipelined lookup.
const lookupChunk = 500

// lookup tells which plates are in the Redis set: one pipeline (one round
// trip) of SMISMEMBER commands of lookupChunk plates each.
func (k *worker) lookup(ctx context.Context, plates []string) ([]bool, error) {
	if len(plates) == 0 {
		return nil, nil
	}
	pipe := k.rdb.Pipeline()
	var cmds []*redis.BoolSliceCmd
	for i := 0; i < len(plates); i += lookupChunk {
		chunk := plates[i:min(i+lookupChunk, len(plates))]
		members := make([]any, len(chunk))
		for j, p := range chunk {
			members[j] = p
		}
		cmds = append(cmds, pipe.SMIsMember(ctx, hotlistKey, members...))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	listed := make([]bool, 0, len(plates))
	for _, c := range cmds {
		listed = append(listed, c.Val()...)
	}
	return listed, nil
}

// store COPYs the passages and hits of a batch in one transaction.
func (k *worker) store(ctx context.Context, rows, hits [][]any) error {
	tx, err := k.conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"passages"}, passageColumns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copy passages: %w", err)
	}
	if len(hits) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"hits"}, []string{"read_id", "plate", "camera_id", "ts", "list"}, pgx.CopyFromRows(hits)); err != nil {
			return fmt.Errorf("copy hits: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
