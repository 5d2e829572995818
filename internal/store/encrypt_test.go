package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/anpr/anpr/plate"
)

// TestEncryption: an encrypted directory opens with its key only, holds no
// plate in clear, and survives a key rotation.
func TestEncryption(t *testing.T) {
	dir := t.TempDir()
	key, other := bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{9}, 32)
	s := open(t, Options{Dir: dir, EncryptionKey: key})
	r := read("7SECRET77", now(), 1)
	write(t, s, &Batch{Reads: []plate.Read{r}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		key  []byte
	}{{"no key", nil}, {"wrong key", other}} {
		if s, err := Open(Options{Dir: dir, EncryptionKey: tt.key}); !errors.Is(err, ErrKey) {
			if s != nil {
				s.Close()
			}
			t.Errorf("%s: Open = %v, want ErrKey", tt.name, err)
		}
	}
	// No file holds the plate in clear.
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte("7SECRET77")) {
			t.Errorf("%s holds the plate in clear", filepath.Base(f))
		}
	}
	if err := RotateKey(dir, other, key); !errors.Is(err, ErrKey) {
		t.Errorf("RotateKey with the wrong old key = %v, want ErrKey", err)
	}
	if err := RotateKey(dir, key, other); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(Options{Dir: dir, EncryptionKey: key}); !errors.Is(err, ErrKey) {
		if s != nil {
			s.Close()
		}
		t.Errorf("old key after rotation: Open = %v, want ErrKey", err)
	}
	s = open(t, Options{Dir: dir, EncryptionKey: other})
	if got := passages(t, s, "7SECRET77"); len(got) != 1 || got[0].ReadID != r.ReadID {
		t.Errorf("after rotation: %v, want the passage", got)
	}
}
