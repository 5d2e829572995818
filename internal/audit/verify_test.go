package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// trail returns the lines (with newlines) of a fresh log of n records.
func trail(t *testing.T, n int) [][]byte {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir)
	appendN(t, l, 1, n)
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	return lines[:len(lines)-1] // after the last newline: empty
}

// rehash returns line (without newline) with its hash recomputed over its
// body as it stands, as a forger who knows the scheme would.
func rehash(line []byte) []byte {
	body := string(line[:len(line)-hashSuffixLen])
	sum := sha256.Sum256([]byte(body + "}"))
	return []byte(body + `,"hash":"` + hex.EncodeToString(sum[:]) + `"}`)
}

func TestVerify(t *testing.T) {
	const n = 6
	set := func(lines [][]byte, i int, s string) { lines[i] = []byte(s) }
	tests := []struct {
		name       string
		tamper     func(t *testing.T, lines [][]byte) [][]byte
		wantN      int
		wantSeq    uint64
		wantReason Reason
	}{
		{"intact", func(t *testing.T, l [][]byte) [][]byte { return l }, n, 0, ""},
		{"field changed", func(t *testing.T, l [][]byte) [][]byte {
			set(l, 2, strings.Replace(string(l[2]), `"results":3,`, `"results":0,`, 1))
			return l
		}, 2, 3, Changed},
		{"plate changed", func(t *testing.T, l [][]byte) [][]byte {
			set(l, 4, strings.Replace(string(l[4]), "1ABC005", "1ABC006", 1))
			return l
		}, 4, 5, Changed},
		{"seq changed", func(t *testing.T, l [][]byte) [][]byte {
			set(l, 2, strings.Replace(string(l[2]), `{"seq":3,`, `{"seq":9,`, 1))
			return l
		}, 2, 3, Changed},
		{"changed and rehashed", func(t *testing.T, l [][]byte) [][]byte {
			line := bytes.Replace(bytes.TrimSuffix(l[2], []byte("\n")), []byte(`"results":3,`), []byte(`"results":0,`), 1)
			l[2] = append(rehash(line), '\n')
			return l
		}, 3, 4, Changed},
		{"duplicate key rehashed", func(t *testing.T, l [][]byte) [][]byte {
			line := bytes.TrimSuffix(l[2], []byte("\n"))
			body := string(line[:len(line)-hashSuffixLen]) + `,"results":0`
			l[2] = append(rehash([]byte(body+string(line[len(line)-hashSuffixLen:]))), '\n')
			return l
		}, 2, 3, Malformed},
		{"line deleted", func(t *testing.T, l [][]byte) [][]byte {
			return append(l[:2:2], l[3:]...)
		}, 2, 3, Deleted},
		{"two lines deleted", func(t *testing.T, l [][]byte) [][]byte {
			return append(l[:1:1], l[3:]...)
		}, 1, 2, Deleted},
		{"first line deleted", func(t *testing.T, l [][]byte) [][]byte { return l[1:] }, 0, 1, Deleted},
		{"lines swapped", func(t *testing.T, l [][]byte) [][]byte {
			l[2], l[3] = l[3], l[2]
			return l
		}, 2, 3, Reordered},
		{"last lines swapped", func(t *testing.T, l [][]byte) [][]byte {
			l[4], l[5] = l[5], l[4]
			return l
		}, 4, 5, Reordered},
		{"line duplicated", func(t *testing.T, l [][]byte) [][]byte {
			return append(l[:3:3], append([][]byte{l[1]}, l[3:]...)...)
		}, 3, 2, Inserted},
		{"garbage inserted", func(t *testing.T, l [][]byte) [][]byte {
			return append(l[:3:3], append([][]byte{[]byte("hello\n")}, l[3:]...)...)
		}, 3, 4, Malformed},
		{"tail truncated", func(t *testing.T, l [][]byte) [][]byte {
			l[5] = l[5][:40]
			return l
		}, 5, 6, Truncated},
		{"newline removed from end", func(t *testing.T, l [][]byte) [][]byte {
			l[5] = bytes.TrimSuffix(l[5], []byte("\n"))
			return l
		}, 5, 6, Truncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := tt.tamper(t, trail(t, n))
			gotN, err := Verify(bytes.NewReader(bytes.Join(lines, nil)))
			if gotN != tt.wantN {
				t.Errorf("Verify() n = %d, want %d", gotN, tt.wantN)
			}
			if tt.wantReason == "" {
				if err != nil {
					t.Errorf("Verify() error = %v, want nil", err)
				}
				return
			}
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("Verify() error = %v, want a *VerifyError", err)
			}
			if ve.Seq != tt.wantSeq || ve.Reason != tt.wantReason {
				t.Errorf("Verify() = seq %d %s (%v), want seq %d %s", ve.Seq, ve.Reason, err, tt.wantSeq, tt.wantReason)
			}
		})
	}
}

func TestVerifyEmpty(t *testing.T) {
	if n, err := Verify(strings.NewReader("")); n != 0 || err != nil {
		t.Errorf("Verify(empty) = %d, %v; want 0, nil", n, err)
	}
}
