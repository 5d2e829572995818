package matcher

import (
	"encoding/binary"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/anpr/anpr/plate"
)

// groupLen is the number of reads whose table lookups are issued together
// (see matchGroup): about as many cache misses as a core keeps in flight.
// 16, 32 and 64 measured alike at 1e7 entries.
const groupLen = 32

// Match appends to dst one Hit per list entry that r matches at capture
// time r.TS, with DetectedAt set to now, and returns the extended slice.
// r.PlateNorm must be the normalized plate (plate.Normalize). It is
// MatchBatch of one read: callers with several reads at hand should use
// MatchBatch, about twice as fast per read at 1e7 entries.
//
// Match is lock-free and safe for concurrent use. It does not allocate
// when there is no hit. It does not count checks: callers add the number
// of reads they matched with CountChecks, once per batch, because a shared
// counter updated on every read costs more than the lookup itself when
// several cores match at once (see BenchmarkMatchCounting).
func (m *Matcher) Match(r *plate.Read, now time.Time, dst []Hit) []Hit {
	var p [1]probe
	var fp [1]fuzzyProbe
	return m.matchGroup(m.idx.Load(), unsafe.Slice(r, 1), p[:], fp[:], now, dst)
}

// MatchBatch appends to dst the hits of every read of reads, in read
// order, exactly as calling Match on each read in turn would, except that
// the whole batch sees one index: a concurrent Load applies to all of it
// or to none of it. Hit.Read.ReadID tells which read a hit belongs to.
//
// A miss costs a DRAM access to the table (and a TLB miss) on large lists.
// Match pays them one after the other; MatchBatch hashes groupLen reads
// first and then touches their buckets in one tight loop, so the CPU has
// those accesses in flight at once (memory-level parallelism). Measured
// at 1e7 entries on a quiet 2-core machine: 125 CPU ns per exact check
// against 249 for Match (8 M checks/s/core; README has the commands).
//
// MatchBatch is lock-free and safe for concurrent use, does not allocate
// when there is no hit, and does not count checks (see Match).
func (m *Matcher) MatchBatch(reads []plate.Read, now time.Time, dst []Hit) []Hit {
	ix := m.idx.Load()
	var ps [groupLen]probe // zeroed once per call: zeroing it per read costs as much as an L2 lookup
	var fps [groupLen]fuzzyProbe
	for len(reads) > 0 {
		n := min(len(reads), groupLen)
		dst = m.matchGroup(ix, reads[:n], ps[:n], fps[:n], now, dst)
		reads = reads[n:]
	}
	return dst
}

// probe is the lookup state of one read in matchGroup.
type probe struct {
	hash    [2]uint64 // per keyspace ksExact, ksCanon
	touched [2]uint32 // per keyspace: what keyspace.touch loaded, stored only so that the load stays
	shard   [2]*shard // per keyspace: the shard of hash
	sp      [2]span   // per keyspace; empty: no candidate
	code    uint64    // key code of the plate
	canon   uint64    // key code of its OCR canonical form
	skip    bool      // the plate cannot match any entry
	own     bool      // the fuzzy keyspace's filter has the canonical form
}

// matchGroup matches reads against ix, using ps and fps (one per read,
// any content) for its state, in passes: hash every read, and make its
// fuzzy variants (fuzzy.go) and prefetch their filter words; touch the
// first bucket of every exact and canon lookup; test the variants against
// the filters and prefetch the table buckets of those that pass; look
// every read up; collect the hits in read order.
//
// The touches are independent loads in a loop so small that the CPU
// issues the cache and TLB misses of a whole group before the first one
// returns; the lookups then find their buckets in cache. A lookup loop
// alone, its body being larger, keeps fewer misses in flight: at 1e7 keys
// the touch pass took 20–40 % off a lookup. Go has no prefetch
// intrinsic, hence the loads, whose results are stored so that the
// compiler keeps them. A fuzzy read has 1+n variants to look up, and
// hashing them is most of its computing: there the misses go out by a
// prefetch instruction (prefetch_*.s) as each hash is made, which unlike
// a load retires at once and lets the computing go on while the line is
// fetched. At 1e6 Fuzzy entries this took a third off a check, against
// touching the filter words in a pass of their own (which in turn beat
// touching them as they were made: the computing in between filled the
// reorder buffer, behind loads that wait).
//
// The canon keyspace holds Fuzzy entries and those of OCR lists. Without
// OCR lists, a canon lookup can find an entry only when the fuzzy filter
// has the read's canonical form (each Fuzzy key is a variant of itself),
// so it waits for the filter and is mostly skipped.
func (m *Matcher) matchGroup(ix *index, reads []plate.Read, ps []probe, fps []fuzzyProbe, now time.Time, dst []Hit) []Hit {
	canon, fuzzy := ix.ks[ksCanon].size > 0, ix.ks[ksFuzzy].size > 0
	canonFirst := canon && (m.ocrLists || !fuzzy) // canon lookups not waiting for the filter
	for i := range reads {
		p := &ps[i]
		*p = probe{}
		norm := reads[i].PlateNorm
		code, ok := keyCode(norm)
		if !ok || len(norm) < plate.MinLen {
			p.skip = true
			fps[i].nhash = 0 // it may hold the variants of the group before
			continue
		}
		p.code, p.hash[ksExact] = code, mix(code)
		if canon || fuzzy {
			fp := &fps[i]
			fp.nkey = len(m.ocr.AppendCanonical(fp.key[:0], norm))
			p.canon, _ = keyCode(fp.key[:fp.nkey])
			p.hash[ksCanon] = mix(p.canon)
			if fuzzy {
				m.prepareFuzzy(fp, &ix.ks[ksFuzzy])
			}
		}
	}
	for k := range ksFuzzy {
		ks := &ix.ks[k]
		if ks.size == 0 || ks.shards[0].filter != nil || k == ksCanon && !canonFirst {
			continue // with bloom filters most lookups never reach the table
		}
		for i := range ps {
			if p := &ps[i]; !p.skip {
				p.touched[k] = ks.touch(p.hash[k])
			}
		}
	}
	if fuzzy {
		fz := &ix.ks[ksFuzzy]
		for i := range ps {
			p, fp := &ps[i], &fps[i]
			n := 0
			for _, h := range fp.hashes[:fp.nhash] {
				if fz.shardOf(h).vf.has(h) {
					fp.hashes[n] = h
					n++
					fz.prefetch(h)
					if h == p.hash[ksCanon] && canon && !canonFirst {
						p.own = true
						ix.ks[ksCanon].prefetch(h)
					}
				}
			}
			fp.nhash = n
		}
	}
	for k := range ksFuzzy {
		ks := &ix.ks[k]
		if ks.size == 0 {
			continue
		}
		for i := range ps {
			if p := &ps[i]; !p.skip && (k != ksCanon || canonFirst || p.own) {
				p.shard[k], p.sp[k] = ks.find(p.hash[k])
			}
		}
	}
	for i := range ps {
		p := &ps[i]
		for k := range ksFuzzy {
			if sp := p.sp[k]; sp.end > sp.start {
				dst = m.collect(ix, p.shard[k], sp, &reads[i], p.code, k == ksCanon, 0, now, dst)
			}
		}
		if fuzzy && fps[i].nhash > 0 {
			dst = m.matchFuzzy(ix, &reads[i], p, &fps[i], now, dst)
		}
	}
	return dst
}

// fuzzyProbe is the fuzzy lookup state of one read. It holds lengths
// rather than slices of its own arrays, which would make it escape.
type fuzzyProbe struct {
	key    [plate.MaxLen]byte  // the canonical form: key[:nkey]
	hashes [maxVariants]uint64 // of its deletion variants, then of those the filters pass: hashes[:nhash]
	nkey   int
	nhash  int
	cands  [16]uint64 // candidates found, for matchFuzzy
}

// prepareFuzzy fills fp.hashes with the hashes of the deletion variants
// of fp.key and prefetches their words in the filters of fz.
func (m *Matcher) prepareFuzzy(fp *fuzzyProbe, fz *keyspace) {
	hashes := appendVariants(fp.hashes[:0], fp.key[:fp.nkey], m.maxDistance)
	fp.nhash = len(hashes)
	for j, v := range hashes {
		h := mix(v)
		hashes[j] = h
		fz.shardOf(h).vf.prefetch(h)
	}
}

// matchFuzzy appends the hits of Fuzzy entries at distance 1..maxDistance
// from the read r of p, found through the fuzzy keyspace (fuzzy.go) with
// the variants in fp; those at distance 0 come from the canon keyspace.
func (m *Matcher) matchFuzzy(ix *index, r *plate.Read, p *probe, fp *fuzzyProbe, now time.Time, dst []Hit) []Hit {
	fz := &ix.ks[ksFuzzy]
	cands := fp.cands[:0]
	for _, h := range fp.hashes[:fp.nhash] {
		s, sp := fz.find(h)
		for i := sp.start; i < sp.end; i++ {
			k, _ := binary.Uvarint(s.record(i)[2:])
			if k != p.canon && !slices.Contains(cands, k) {
				cands = append(cands, k)
			}
		}
	}
	for _, k := range cands {
		var b [plate.MaxLen]byte
		d := osa(fp.key[:fp.nkey], appendKey(b[:0], k), m.maxDistance)
		if d > m.maxDistance {
			continue
		}
		s, sp := ix.ks[ksCanon].find(mix(k))
		dst = m.collect(ix, s, sp, r, p.code, true, d, now, dst)
	}
	return dst
}

// collect appends the hits of the postings sp of s, of the exact or
// (canon) the canon keyspace, that r matches; code is the key code of r's
// plate. Keys are bijective (key.go): every posting found has the read's
// key. dist > 0 is the distance of a fuzzy candidate: only Fuzzy lists
// that accept it hit.
func (m *Matcher) collect(ix *index, s *shard, sp span, r *plate.Read, code uint64, canon bool, dist int, now time.Time, dst []Hit) []Hit {
	rr := recReader{strs: ix.strs}
	for i := sp.start; i < sp.end; i++ {
		h := rr.head(s.record(i))
		l := m.lists[h.list]
		if dist > 0 && (l.mode != Fuzzy || l.maxDistance < dist) {
			continue
		}
		if !h.validAt(r.TS) || !countriesAgree(h.country, r.Country) {
			continue
		}
		p, match := r.PlateNorm, Exact
		if canon {
			if dist > 0 {
				match = Fuzzy
			} else if h.ident != code {
				match = OCR
			}
			if h.ident != code {
				var b [plate.MaxLen]byte
				p = string(appendKey(b[:0], h.ident))
			}
		}
		l.hits.Inc()
		dst = append(dst, Hit{
			ID:         HitID(r.ReadID, l.name, p),
			Read:       *r,
			List:       l.name,
			Entry:      rr.entry(&h, l.name, p),
			Match:      match,
			Distance:   dist,
			Covert:     l.covert || h.flags&flagCovert != 0,
			DetectedAt: now,
			list:       l,
		})
	}
	return dst
}

func countriesAgree(a, b string) bool {
	return a == "" || b == "" || strings.EqualFold(a, b)
}
