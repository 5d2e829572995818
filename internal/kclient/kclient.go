// Package kclient holds the kafka-go settings every part of anpr shares:
// how to dial the cluster (TLS, SASL) and how to build readers and writers
// that are tuned as FIELD-NOTES.md measured.
package kclient

import (
	"crypto/tls"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// Config says how to reach the cluster. The zero value is invalid: Brokers
// is required.
type Config struct {
	Brokers []string
	// TLS, when non-nil, encrypts every connection.
	TLS *tls.Config
	// SASL, when non-nil, authenticates every connection.
	SASL sasl.Mechanism
}

// Dialer returns a dialer for kafka-go readers and consumer groups.
func (c Config) Dialer() *kafka.Dialer {
	return &kafka.Dialer{
		Timeout:       10 * time.Second,
		DualStack:     true,
		TLS:           c.TLS,
		SASLMechanism: c.SASL,
	}
}

// Transport returns a fresh transport for writers. It is never
// kafka.DefaultTransport, whose metadata cache hides topics created after it
// filled (FIELD-NOTES.md).
func (c Config) Transport() *kafka.Transport {
	return &kafka.Transport{
		DialTimeout: 10 * time.Second,
		TLS:         c.TLS,
		SASL:        c.SASL,
		MetadataTTL: 2 * time.Second,
	}
}

// Writer is a kafka-go writer that owns its transport: Close also closes
// the transport's connections, which kafka.Writer.Close leaves open.
type Writer struct {
	*kafka.Writer
	transport *kafka.Transport
}

// Close flushes pending messages and closes every connection.
func (w *Writer) Close() error {
	err := w.Writer.Close()
	w.transport.CloseIdleConnections()
	return err
}

// Writer returns a synchronous writer to topic: WriteMessages returns once
// every replica has the messages (acks=all), keys are placed with murmur2 as
// the Java client and kcat do, and a batch is sent after 1 ms instead of
// kafka-go's 1 s default.
func (c Config) Writer(topic string) *Writer {
	t := c.Transport()
	return &Writer{transport: t, Writer: &kafka.Writer{
		Addr:         kafka.TCP(c.Brokers...),
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		// kafka-go allocates a batch of BatchSize messages (about 150 B
		// each) for every partition a WriteMessages touches: 5000 cleared
		// 760 KB per partition even for one hit. Callers write at most a
		// few thousand messages over 12 partitions at once.
		BatchSize:              500,
		BatchBytes:             4 << 20,
		BatchTimeout:           time.Millisecond,
		Compression:            kafka.Lz4,
		AllowAutoTopicCreation: true,
		Transport:              t,
	}}
}

// PartitionReader returns a reader of one partition of topic, positioned by
// the caller with SetOffset.
func (c Config) PartitionReader(topic string, partition int) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:       c.Brokers,
		Topic:         topic,
		Partition:     partition,
		Dialer:        c.Dialer(),
		MinBytes:      1,
		MaxBytes:      10 << 20,
		MaxWait:       500 * time.Millisecond,
		QueueCapacity: 10000,
	})
}
