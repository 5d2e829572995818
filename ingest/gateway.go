package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/plate"
)

// ErrBadBody means a POST body is neither a JSON array nor NDJSON.
var ErrBadBody = errors.New("body is neither a JSON array nor newline-delimited JSON")

// Gateway validates reads posted over HTTP and writes the valid ones to the
// reads topic, keyed by normalized plate, so they take the same path as
// reads from Kafka gateways. Safe for concurrent use.
type Gateway struct {
	w   *kclient.Writer
	now func() time.Time
	m   *gatewayMetrics
}

// NewGateway returns a gateway writing to topic. Close releases its writer.
func NewGateway(k kclient.Config, topic string, reg prometheus.Registerer) *Gateway {
	return &Gateway{w: k.Writer(topic), now: time.Now, m: newGatewayMetrics(reg)}
}

// Close flushes and closes the writer.
func (g *Gateway) Close() error { return g.w.Close() }

// Rejection says why one element of a posted body was refused.
type Rejection struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
	Field  string `json:"field,omitempty"`
	Detail string `json:"detail"`
}

// Result is the answer to a POST of reads.
type Result struct {
	Accepted int         `json:"accepted"`
	Rejected int         `json:"rejected"`
	Errors   []Rejection `json:"errors,omitempty"`
}

// Accept validates every read of body (a JSON array, or one JSON object per
// line) and writes the valid ones to the reads topic; it returns when the
// broker has them. Invalid ones are answered in the Result, not sent to the
// DLQ: the gateway is there to be told.
func (g *Gateway) Accept(ctx context.Context, body []byte) (Result, error) {
	elems, err := split(body)
	if err != nil {
		return Result{}, err
	}
	var res Result
	now := g.now()
	msgs := make([]kafka.Message, 0, len(elems))
	var r plate.Read
	for i, e := range elems {
		if err := decode(e, &r, now); err != nil {
			rej := Rejection{Index: i, Reason: plate.ReasonInvalidJSON, Detail: err.Error()}
			var de *plate.DecodeError
			if errors.As(err, &de) {
				rej.Reason, rej.Field, rej.Detail = de.Reason, de.Field, de.Detail
			}
			g.m.rejected.WithLabelValues(rej.Reason).Inc()
			res.Errors = append(res.Errors, rej)
			continue
		}
		msgs = append(msgs, kafka.Message{Key: []byte(r.PlateNorm), Value: e})
	}
	if len(msgs) > 0 {
		if err := g.w.WriteMessages(ctx, msgs...); err != nil {
			return Result{}, fmt.Errorf("write %d reads to %s: %w", len(msgs), g.w.Topic, err)
		}
	}
	res.Accepted, res.Rejected = len(msgs), len(res.Errors)
	g.m.accepted.Add(float64(res.Accepted))
	return res, nil
}

// split cuts a JSON array or NDJSON body into its elements.
func split(body []byte) ([][]byte, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, nil
	}
	if trimmed[0] != '[' {
		var elems [][]byte
		for line := range bytes.Lines(trimmed) {
			if line = bytes.TrimSpace(line); len(line) > 0 {
				elems = append(elems, line)
			}
		}
		return elems, nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBody, err)
	}
	elems := make([][]byte, len(raw))
	for i := range raw {
		elems[i] = raw[i]
	}
	return elems, nil
}
