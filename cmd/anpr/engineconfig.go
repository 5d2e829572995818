package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/anpr/anpr/engine"
	"github.com/anpr/anpr/internal/config"
	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/matcher"
)

// defaultTopics are the SPEC §2 topic names.
var defaultTopics = engine.Topics{
	Reads: "anpr.reads", DLQ: "anpr.reads.dlq", Hits: "anpr.hits",
	Violations: "anpr.violations", Hotlists: "anpr.hotlists",
}

// seededTopics are the topics the embedded broker creates at start.
func seededTopics(t engine.Topics) []string {
	return []string{t.Reads, t.DLQ, t.Hits, t.Violations}
}

// kafkaConfig turns the kafka block into client settings.
func kafkaConfig(k config.Kafka) (kclient.Config, error) {
	kc := kclient.Config{Brokers: k.Brokers}
	if k.TLS != nil {
		tc := &tls.Config{ServerName: k.TLS.ServerName, InsecureSkipVerify: k.TLS.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
		if k.TLS.CAFile != "" {
			pem, err := os.ReadFile(k.TLS.CAFile)
			if err != nil {
				return kc, fmt.Errorf("kafka tls ca_file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return kc, fmt.Errorf("kafka tls ca_file %q: no PEM certificate", k.TLS.CAFile)
			}
		}
		if k.TLS.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(k.TLS.CertFile, k.TLS.KeyFile)
			if err != nil {
				return kc, fmt.Errorf("kafka tls client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		kc.TLS = tc
	}
	if k.SASL != nil {
		var mech sasl.Mechanism
		switch k.SASL.Mechanism {
		case "PLAIN":
			mech = plain.Mechanism{Username: k.SASL.Username, Password: k.SASL.Password}
		case "SCRAM-SHA-512":
			m, err := scram.Mechanism(scram.SHA512, k.SASL.Username, k.SASL.Password)
			if err != nil {
				return kc, fmt.Errorf("kafka sasl: %w", err)
			}
			mech = m
		default:
			return kc, fmt.Errorf("kafka sasl: unknown mechanism %q", k.SASL.Mechanism)
		}
		kc.SASL = mech
	}
	return kc, nil
}

// engineConfig converts the validated file configuration into the engine's.
func engineConfig(c *config.Config) (engine.Config, error) {
	kc, err := kafkaConfig(c.Kafka)
	if err != nil {
		return engine.Config{}, err
	}
	ocr, err := c.OCRTable()
	if err != nil {
		return engine.Config{}, err
	}
	t := c.Kafka.Topics
	ec := engine.Config{
		Kafka:      kc,
		Group:      c.Kafka.Group,
		Topics:     engine.Topics{Reads: t.Reads, DLQ: t.DLQ, Hits: t.Hits, Violations: t.Violations, Hotlists: t.Hotlists},
		DataDir:    c.DataDir,
		Retention:  c.Retention,
		Cameras:    c.Cameras(),
		OCR:        ocr,
		HTTPListen: c.HTTP.Listen,
	}
	for _, h := range c.Hotlists {
		l := matcher.List{Name: h.Name, Mode: matcher.Mode(h.Match), Suppress: h.Suppress, Covert: h.Covert}
		if l.Mode == matcher.Fuzzy {
			l.MaxDistance = h.MaxDistance
		}
		ec.Hotlists = append(ec.Hotlists, engine.Hotlist{List: l, File: h.File})
	}
	return ec, nil
}
