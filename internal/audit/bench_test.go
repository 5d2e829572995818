package audit

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
)

// Append throughput with an fsync per record, one writer and many:
//
//	go test ./internal/audit -run '^$' -bench . -benchtime 2s
func BenchmarkAppend(b *testing.B) {
	b.Run("writers=1", func(b *testing.B) {
		l, err := Open(b.TempDir(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		r := query(7)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Append(r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run(fmt.Sprintf("writers=%d", 4*runtime.GOMAXPROCS(0)), func(b *testing.B) {
		l, err := Open(b.TempDir(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		r := query(7)
		b.ReportAllocs()
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := l.Append(r); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// Verify speed, for anpr audit verify on a long trail:
//
//	go test ./internal/audit -run '^$' -bench Verify -benchtime 2s
func BenchmarkVerify(b *testing.B) {
	const n = 10000
	var buf bytes.Buffer
	lastHash := Genesis
	for i := 1; i <= n; i++ {
		r := query(i)
		r.Seq, r.Prev = uint64(i), lastHash
		normalize(&r)
		var line []byte
		line, lastHash = appendLine(nil, &r)
		buf.Write(line)
	}
	b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(buf.Len()))
		for b.Loop() {
			if got, err := Verify(bytes.NewReader(buf.Bytes())); got != n || err != nil {
				b.Fatalf("Verify() = %d, %v", got, err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
