package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// FileName is the log's name in its directory; torn bytes cut from its end
// at Open go to FileName+".torn".
const FileName = "audit.log"

// ErrClosed is returned by the methods of a closed Log.
var ErrClosed = errors.New("audit log closed")

// Options configures a Log. The zero value gives the defaults.
type Options struct {
	// Logger receives the warning about a torn last line; default none.
	Logger *slog.Logger
	// Now is the clock stamping records; default time.Now.
	Now func() time.Time
}

// Log is an open audit trail. Its methods are safe for concurrent use;
// Append calls are serialized, Read and Export run beside them on their
// own file handle and see the records complete when they started.
type Log struct {
	path string
	opts Options

	mu     sync.Mutex // guards everything below
	f      *os.File
	seq    uint64 // of the last record, 0 if none
	last   string // hash of the last record, Genesis if none
	size   int64  // bytes of complete records
	err    error  // a failed write or fsync: Append refuses to go on
	closed bool
	buf    []byte
}

// Open opens or creates dir/audit.log and resumes its chain from the last
// record. A torn last line (bytes after the last newline, left by a crash
// during a write) is moved to dir/audit.log.torn with a warning; a damaged
// last complete record is an error.
func Open(dir string, opts Options) (*Log, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	l := &Log{path: path, opts: opts, f: f, last: Genesis}
	if err := l.recover(); err != nil {
		f.Close()
		return nil, fmt.Errorf("open audit log %q: %w", path, err)
	}
	return l, nil
}

// recover reads the end of the file: it sets seq, last and size from the
// last complete line and moves a torn tail aside.
func (l *Log) recover() error {
	fi, err := l.f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	// The last complete line and a torn one are each at most MaxLine.
	n := min(size, 2*MaxLine)
	buf := make([]byte, n)
	if _, err := l.f.ReadAt(buf, size-n); err != nil {
		return fmt.Errorf("read tail: %w", err)
	}
	end := bytes.LastIndexByte(buf, '\n') + 1 // end of the complete lines in buf
	if end == 0 && n < size {
		return fmt.Errorf("no line end in the last %d bytes", n)
	}
	if torn := buf[end:]; len(torn) > 0 {
		if err := l.moveTorn(torn, size-int64(len(torn))); err != nil {
			return err
		}
	}
	l.size = size - int64(len(buf)-end)
	if end == 0 {
		return nil
	}
	start := bytes.LastIndexByte(buf[:end-1], '\n') + 1
	if start == 0 && n < size {
		return fmt.Errorf("last line longer than %d bytes", MaxLine)
	}
	r, err := parseLine(buf[start : end-1])
	if err != nil {
		return fmt.Errorf("last record (seq %d): %w; run audit verify", r.Seq, err)
	}
	l.seq, l.last = r.Seq, r.Hash
	return nil
}

// moveTorn appends the torn tail to the .torn file, then cuts it from the
// log at offset good.
func (l *Log) moveTorn(torn []byte, good int64) error {
	tornPath := l.path + ".torn"
	tf, err := os.OpenFile(tornPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("save torn tail: %w", err)
	}
	_, err = tf.Write(append(torn, '\n'))
	if err == nil {
		err = tf.Sync()
	}
	if cerr := tf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("save torn tail to %q: %w", tornPath, err)
	}
	if err := l.f.Truncate(good); err != nil {
		return fmt.Errorf("truncate torn tail: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("truncate torn tail: %w", err)
	}
	l.opts.Logger.Warn("audit log ended in a torn line, left by a crash during a write; moved it aside",
		"log", l.path, "torn_bytes", len(torn), "moved_to", tornPath)
	return nil
}

// Append sets r's Seq, Time, Prev and Hash, writes it and fsyncs, and
// returns the record as stored (strings made valid UTF-8, Query cut to
// MaxQuery). Once it returns nil the record survives a crash. It is safe for
// concurrent use; records are chained in the order Append is called.
func (l *Log) Append(r Record) (Record, error) {
	normalize(&r)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Record{}, ErrClosed
	}
	if l.err != nil {
		return Record{}, fmt.Errorf("append audit record: log failed earlier: %w", l.err)
	}
	r.Seq, r.Prev = l.seq+1, l.last
	r.Time = l.opts.Now().UTC().Truncate(time.Millisecond)
	var line []byte
	line, r.Hash = appendLine(l.buf[:0], &r)
	if len(line) > MaxLine {
		return Record{}, fmt.Errorf("append audit record: line of %d bytes exceeds %d", len(line), MaxLine)
	}
	l.buf = line
	if _, err := l.f.Write(line); err != nil {
		l.err = err
		return Record{}, fmt.Errorf("append audit record %d: %w", r.Seq, err)
	}
	if err := l.f.Sync(); err != nil {
		l.err = err
		return Record{}, fmt.Errorf("append audit record %d: %w", r.Seq, err)
	}
	l.seq, l.last, l.size = r.Seq, r.Hash, l.size+int64(len(line))
	return r, nil
}

// Last returns the seq and hash of the last record (0 and Genesis when
// empty): worth keeping elsewhere to detect a truncated trail.
func (l *Log) Last() (seq uint64, hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.last
}

// Close closes the file; it is idempotent.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("close audit log: %w", err)
	}
	return nil
}

// snapshot opens the file for reading and returns how many of its bytes are
// complete records.
func (l *Log) snapshot() (*os.File, int64, error) {
	l.mu.Lock()
	size, closed := l.size, l.closed
	l.mu.Unlock()
	if closed {
		return nil, 0, ErrClosed
	}
	f, err := os.Open(l.path)
	if err != nil {
		return nil, 0, fmt.Errorf("read audit log: %w", err)
	}
	return f, size, nil
}

// Export writes the whole trail to w as stored: JSON lines that Verify
// accepts.
func (l *Log) Export(w io.Writer) error {
	f, size, err := l.snapshot()
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(w, io.NewSectionReader(f, 0, size)); err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	return nil
}

// DefaultReadLimit and MaxReadLimit bound a Read.
const (
	DefaultReadLimit = 100
	MaxReadLimit     = 1000
)

// Read returns up to limit records with seq greater than after, in order:
// a page of GET /api/v1/audit whose cursor is the last seq returned. A limit
// of 0 or less means DefaultReadLimit; above MaxReadLimit, MaxReadLimit. The
// first record is found by binary search over the file, since seqs grow
// with the offset.
func (l *Log) Read(after uint64, limit int) ([]Record, error) {
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	limit = min(limit, MaxReadLimit)
	f, size, err := l.snapshot()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var serr error
	off := int64(sort.Search(int(size), func(i int) bool {
		seq, ok, err := seqFrom(f, int64(i), size)
		if err != nil && serr == nil {
			serr = err
		}
		return !ok || seq > after
	}))
	if serr != nil {
		return nil, fmt.Errorf("read audit log after %d: %w", after, serr)
	}
	start, err := lineStart(f, off, size)
	if err != nil {
		return nil, fmt.Errorf("read audit log after %d: %w", after, err)
	}
	sc := newScanner(io.NewSectionReader(f, start, size-start))
	var out []Record
	for len(out) < limit && sc.Scan() {
		r, err := parseLine(bytes.TrimSuffix(sc.Bytes(), []byte("\n")))
		if err != nil {
			return nil, fmt.Errorf("read audit log: record after seq %d: %w", after, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}

// lineStart returns the offset of the first line starting at or after off
// (size if none).
func lineStart(f io.ReaderAt, off, size int64) (int64, error) {
	if off == 0 {
		return 0, nil
	}
	br := bufio.NewReaderSize(io.NewSectionReader(f, off-1, size-off+1), 4096)
	pos := off - 1
	for {
		chunk, err := br.ReadSlice('\n')
		pos += int64(len(chunk))
		switch {
		case err == nil:
			return pos, nil
		case errors.Is(err, io.EOF):
			return size, nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return 0, err
		}
	}
}

// seqFrom returns the seq of the first line starting at or after off; ok is
// false when there is none.
func seqFrom(f io.ReaderAt, off, size int64) (seq uint64, ok bool, err error) {
	start, err := lineStart(f, off, size)
	if err != nil || start >= size {
		return 0, false, err
	}
	var head [32]byte
	n, err := f.ReadAt(head[:min(int64(len(head)), size-start)], start)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, false, err
	}
	rest, found := bytes.CutPrefix(head[:n], []byte(`{"seq":`))
	if !found {
		return 0, false, fmt.Errorf("offset %d: not a record", start)
	}
	digits := 0
	for _, c := range rest {
		if c < '0' || c > '9' {
			break
		}
		seq = seq*10 + uint64(c-'0')
		digits++
	}
	if digits == 0 || digits > 19 {
		return 0, false, fmt.Errorf("offset %d: bad seq", start)
	}
	return seq, true, nil
}

// newScanner splits into lines that keep their newline, so that a last line
// without one (torn) can be told apart.
func newScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLine+1)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			return i + 1, data[:i+1], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	return sc
}
