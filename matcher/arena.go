package matcher

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// An arena stores the records of a shard, each as a uvarint length and
// the record, in chunks of chunkSize bytes; a record is referred to by
// chunk<<chunkBits | offset. It is append-only, and the generations of a
// shard share its chunks: a new generation copies the chunk headers (a
// few hundred bytes) and appends beyond what older generations see, so
// that Apply copies no record that did not change. Records replaced or
// deleted stay behind as garbage until mergeShard compacts the arena.
type arena struct {
	chunks [][]byte
	live   int // bytes of the records this generation refers to
	size   int // bytes appended: live plus garbage
}

const (
	chunkBits = 20
	chunkSize = 1 << chunkBits
	maxChunks = 1 << (32 - chunkBits)
)

// maxText bounds the text fields of an entry, so that a record always fits
// a chunk.
const maxText = 4096

// clone returns a copy of a that can be appended to while a is read.
func (a *arena) clone() arena {
	c := *a
	c.chunks = slices.Clip(slices.Clone(a.chunks))
	return c
}

// add appends rec, a length-prefixed record, and returns its ref.
func (a *arena) add(rec []byte) (uint32, error) {
	last := len(a.chunks) - 1
	if last < 0 || len(a.chunks[last])+len(rec) > chunkSize {
		if len(a.chunks) == maxChunks {
			return 0, fmt.Errorf("shard of %d bytes is full (use more shards)", a.size)
		}
		a.chunks = append(a.chunks, make([]byte, 0, chunkSize))
		last++
	}
	c := a.chunks[last]
	ref := uint32(last)<<chunkBits | uint32(len(c))
	a.chunks[last] = append(c, rec...)
	a.live += len(rec)
	a.size += len(rec)
	return ref, nil
}

// raw returns the length-prefixed record at ref.
func (a *arena) raw(ref uint32) []byte {
	b := a.chunks[ref>>chunkBits][ref&(chunkSize-1):]
	n, k := binary.Uvarint(b)
	return b[:k+int(n)]
}

// record returns the record at ref.
func (a *arena) record(ref uint32) []byte {
	b := a.chunks[ref>>chunkBits][ref&(chunkSize-1):]
	n, k := binary.Uvarint(b)
	return b[k : k+int(n)]
}
