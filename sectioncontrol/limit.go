package sectioncontrol

import "time"

const dayMs = int64(24 * time.Hour / time.Millisecond)

// limitAt returns the limit in force at capture time ms for a pair whose
// reads carry classes a and b.
func (s *section) limitAt(ms int64, a, b uint8) float64 {
	l, _ := s.inForce(ms, a, b)
	return l
}

// inForce is the limit at one moment: the highest schedule window covering
// it, else the base limit; lowered to the class limit when both reads carry
// that class (both limits bind the vehicle at once). A tie goes to the class.
func (s *section) inForce(ms int64, a, b uint8) (float64, string) {
	l, why := s.LimitKmh, "base"
	if len(s.Schedule) > 0 {
		_, off := time.UnixMilli(ms).In(s.Location).Zone()
		tod := time.Duration(mod(ms+int64(off)*1000, dayMs)) * time.Millisecond
		found := false
		for i, w := range s.Schedule {
			if w.contains(tod) && (!found || w.LimitKmh > l) {
				l, why, found = w.LimitKmh, s.windowWhy[i], true
			}
		}
	}
	if a == b && a != 0 {
		if cl := s.classLimits[a]; cl > 0 && cl <= l {
			l, why = cl, s.classWhy[a]
		}
	}
	return l, why
}

// limit is the applicable limit of a passage from ms e to ms x: the highest
// limit in force at any moment of [e, x] (the driver's favour), and its
// reason, from the earliest moment that has it. The limit in force changes
// only where a window starts or ends or where the zone's UTC offset changes
// (daylight saving), so it is evaluated at e and at each such instant.
func (s *section) limit(e, x int64, a, b uint8) (float64, string) {
	best, why := s.inForce(e, a, b)
	consider := func(ms int64) {
		if l, w := s.inForce(ms, a, b); l > best {
			best, why = l, w
		}
	}
	if len(s.Schedule) == 0 {
		return best, why
	}
	for t := e; t <= x; {
		tt := time.UnixMilli(t).In(s.Location)
		_, off := tt.Zone()
		offMs := int64(off) * 1000
		segEnd := x + 1 // the end of the span with this offset, exclusive
		if _, end := tt.ZoneBounds(); !end.IsZero() && end.UnixMilli() < segEnd {
			segEnd = end.UnixMilli()
		}
		for day := t + offMs - mod(t+offMs, dayMs); day-offMs < segEnd; day += dayMs {
			for _, w := range s.Schedule {
				for _, b := range [2]time.Duration{w.From, w.To} {
					if at := day + b.Milliseconds() - offMs; at > t && at < segEnd {
						consider(at)
					}
				}
			}
		}
		if segEnd > x {
			break
		}
		t = segEnd
		consider(t)
	}
	return best, why
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
