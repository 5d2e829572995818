package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/anpr/anpr/engine"
	"github.com/anpr/anpr/internal/auth"
	"github.com/anpr/anpr/internal/config"
	"github.com/anpr/anpr/internal/kclient"
	"github.com/anpr/anpr/matcher"
	"github.com/anpr/anpr/sectioncontrol"
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
		Kafka:        kc,
		Group:        c.Kafka.Group,
		Topics:       engine.Topics{Reads: t.Reads, DLQ: t.DLQ, Hits: t.Hits, Violations: t.Violations, Hotlists: t.Hotlists},
		DataDir:      c.DataDir,
		Retention:    c.Retention,
		HitRetention: c.HitRetention, ViolationRetention: c.ViolationRetention,
		HTTPCertFile: c.HTTP.CertFile, HTTPKeyFile: c.HTTP.KeyFile,
		Cameras:    c.Cameras(),
		OCR:        ocr,
		HTTPListen: c.HTTP.Listen,
	}
	if c.Encryption != nil {
		if ec.EncryptionKey, err = c.Encryption.Key(); err != nil {
			return engine.Config{}, err
		}
	}
	users := make([]auth.User, len(c.Auth.Users))
	for i, u := range c.Auth.Users {
		users[i] = auth.User{Name: u.Name, Roles: u.Roles, TokenSHA256: u.TokenSHA256}
	}
	// No user: every endpoint but health and metrics answers 401.
	opts := auth.Options{ApprovalAge: c.Auth.ApprovalAge, Rate: c.Auth.RatePerSecond, Burst: c.Auth.Burst}
	if ec.Auth, err = auth.New(users, opts); err != nil {
		return engine.Config{}, err
	}
	if ec.SectionControl, err = sectionConfig(c.Sections); err != nil {
		return engine.Config{}, err
	}
	for _, h := range c.Hotlists {
		l := matcher.List{Name: h.Name, Mode: matcher.Mode(h.Match), Suppress: h.Suppress, Covert: h.Covert}
		if l.Mode == matcher.Fuzzy {
			l.MaxDistance = h.MaxDistance
		}
		ec.Hotlists = append(ec.Hotlists, engine.Hotlist{List: l, File: h.File, Retro: h.Retro})
	}
	return ec, nil
}

// sectionConfig converts the validated sections; the file layer has applied
// the defaults already.
func sectionConfig(secs []config.Section) (sectioncontrol.Config, error) {
	var sc sectioncontrol.Config
	for _, s := range secs {
		loc, err := time.LoadLocation(s.Timezone)
		if err != nil {
			return sc, fmt.Errorf("section %s: %w", s.ID, err)
		}
		sec := sectioncontrol.Section{
			ID: s.ID, Entry: s.Entry, Exit: s.Exit, LengthM: s.LengthM, LimitKmh: s.LimitKmh,
			ClassLimits: s.ClassLimits, MaxTravel: s.MaxTravel, Dedupe: s.Dedupe,
			MaxLateness: s.MaxLateness, IdleFlush: s.IdleFlush, MaxPlausibleKmh: s.MaxPlausibleKmh,
			Location: loc, Route: s.Route,
			Tolerance: sectioncontrol.Tolerance{Name: s.Tolerance.Name, MarginKmh: s.Tolerance.MarginKmh,
				MarginPct: s.Tolerance.MarginPct, PctAboveKmh: s.Tolerance.PctAboveKmh},
		}
		for _, w := range s.Schedule {
			from, to, err := w.Window()
			if err != nil {
				return sc, fmt.Errorf("section %s schedule: %w", s.ID, err)
			}
			sec.Schedule = append(sec.Schedule, sectioncontrol.Window{From: from, To: to, LimitKmh: w.LimitKmh})
		}
		if s.RoutePolicy == config.RouteHighest {
			sc.RoutePolicy = config.RouteHighest
		}
		sc.Sections = append(sc.Sections, sec)
	}
	return sc, nil
}
