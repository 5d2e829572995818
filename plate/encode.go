package plate

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// TimeFormat is how anpr writes times: UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// AppendJSON appends r as SPEC §3 JSON plus "plate_norm", in the field order
// read_id, camera_id, ts, plate, plate_norm, country, confidence, lane,
// vehicle_class, image_ref. The time is written in UTC with TimeFormat
// (truncated to the millisecond). An empty country or image_ref, a negative
// lane, a negative or infinite confidence is left out; an empty
// vehicle_class is written as ClassUnknown. Strings escape quotes,
// backslashes and control characters only, and invalid UTF-8 becomes U+FFFD,
// so the output is always valid JSON; for any r that Decode returned,
// Decode(AppendJSON(nil, r)) returns r again. AppendJSON does not allocate
// when dst has room; it is safe for concurrent use.
func AppendJSON(dst []byte, r *Read) []byte {
	dst = append(dst, `{"read_id":`...)
	dst = AppendJSONString(dst, r.ReadID)
	dst = append(dst, `,"camera_id":`...)
	dst = AppendJSONString(dst, r.CameraID)
	dst = append(dst, `,"ts":"`...)
	dst = AppendTime(dst, r.TS)
	dst = append(dst, `","plate":`...)
	dst = AppendJSONString(dst, r.Plate)
	dst = append(dst, `,"plate_norm":`...)
	dst = AppendJSONString(dst, r.PlateNorm)
	if r.Country != "" {
		dst = append(dst, `,"country":`...)
		dst = AppendJSONString(dst, r.Country)
	}
	if r.Confidence >= 0 && r.Confidence <= math.MaxFloat64 {
		dst = append(dst, `,"confidence":`...)
		dst = strconv.AppendFloat(dst, r.Confidence, 'f', -1, 64)
	}
	if r.Lane >= 0 {
		dst = append(dst, `,"lane":`...)
		dst = strconv.AppendInt(dst, int64(r.Lane), 10)
	}
	class := r.VehicleClass
	if class == "" {
		class = ClassUnknown
	}
	dst = append(dst, `,"vehicle_class":`...)
	dst = AppendJSONString(dst, class)
	if r.ImageRef != "" {
		dst = append(dst, `,"image_ref":`...)
		dst = AppendJSONString(dst, r.ImageRef)
	}
	return append(dst, '}')
}

// AppendTime appends t.UTC() formatted with TimeFormat, unquoted.
func AppendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, TimeFormat)
	}
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / int(time.Millisecond)
	return append(dst,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) {
			if n := special8(load64(s, i)); n > 0 { // printable ASCII
				i += n
				continue
			}
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
