package simulate

import (
	"strings"

	"github.com/anpr/anpr/plate"
)

// vehicle is what a camera sees pass: the plate as printed, its normalized
// form, the country and the class.
type vehicle struct {
	display, norm, country, class string
	misread                       bool // an OCR error of a listed plate
}

// digits is a source of small random choices carved out of one 64-bit hash,
// so a vehicle index always yields the same vehicle without any state.
type digits uint64

func (d *digits) pick(n int) int {
	r := int(uint64(*d) % uint64(n))
	*d = digits(uint64(*d) / uint64(n))
	return r
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// pickClass draws a vehicle class: car 80 %, van 10 %, truck 8 %, bus 1 %,
// motorcycle 1 %.
func pickClass(d *digits) string {
	switch r := d.pick(100); {
	case r < 80:
		return plate.ClassCar
	case r < 90:
		return plate.ClassVan
	case r < 98:
		return plate.ClassTruck
	case r < 99:
		return plate.ClassBus
	default:
		return plate.ClassMotorcycle
	}
}

// Plate layouts as printed: L letter, D digit, N digit 1-9, other bytes
// verbatim.
var (
	layoutsBE = []string{"1-LLL-DDD", "1-LLL-DDD", "1-LLL-DDD", "2-LLL-DDD", "LLL-DDD"} // 2-series since 2021; old LLL-DDD still around
	layoutsNL = []string{"LL-DDD-L", "L-DDD-LL", "LLL-DD-L", "DD-LLL-D"}                // sidecodes 9, 10, 11, 8
	layoutsFR = []string{"LL-DDD-LL"}                                                   // SIV
	layoutsDE = []string{"-LL NDDD", "-L NDD", "-LL ND"}                                // after a district code
	layoutsLU = []string{"LL NDDD"}
	districts = []string{"AC", "K", "D", "B", "M", "HH", "F", "S", "DN", "KLE", "TR", "BN"}
)

// foreign picks NL 45 %, FR 30 %, DE 20 %, LU 5 %.
func foreign(d *digits) (country string, layouts []string) {
	switch r := d.pick(100); {
	case r < 45:
		return "NL", layoutsNL
	case r < 75:
		return "FR", layoutsFR
	case r < 95:
		return "DE", layoutsDE
	default:
		return "LU", layoutsLU
	}
}

// makeVehicle derives vehicle h (a hash) with the given foreign share.
func makeVehicle(h uint64, foreignShare float64) vehicle {
	d := digits(h)
	v := vehicle{class: pickClass(&d)}
	layouts := layoutsBE
	v.country = "BE"
	if float64(d.pick(10000)) < foreignShare*10000 {
		v.country, layouts = foreign(&d)
	}
	layout := layouts[d.pick(len(layouts))]
	var b strings.Builder
	if v.country == "DE" {
		b.WriteString(districts[d.pick(len(districts))])
	}
	for i := 0; i < len(layout); i++ {
		switch c := layout[i]; c {
		case 'L':
			b.WriteByte(byte('A' + d.pick(26)))
		case 'D':
			b.WriteByte(byte('0' + d.pick(10)))
		case 'N':
			b.WriteByte(byte('1' + d.pick(9)))
		default:
			b.WriteByte(c)
		}
		if i == 4 { // a 64-bit hash holds about 13 choices: refill halfway
			d = digits(splitmix64(h))
		}
	}
	v.display = b.String()
	v.norm = string(plate.AppendNormalized(nil, v.display))
	return v
}

// listedVehicle is the vehicle carrying listed plate norm: printed in its
// country's layout when the layout is recognizable, class from a hash.
func listedVehicle(norm string) vehicle {
	h := uint64(14695981039346656037)
	for i := 0; i < len(norm); i++ {
		h = (h ^ uint64(norm[i])) * 1099511628211
	}
	d := digits(splitmix64(h))
	v := vehicle{norm: norm, display: norm, class: pickClass(&d)}
	switch shape(norm) {
	case "DLLLDDD":
		v.country, v.display = "BE", norm[:1]+"-"+norm[1:4]+"-"+norm[4:]
	case "LLDDDLL":
		v.country, v.display = "FR", norm[:2]+"-"+norm[2:5]+"-"+norm[5:]
	case "LLDDDL":
		v.country, v.display = "NL", norm[:2]+"-"+norm[2:5]+"-"+norm[5:]
	case "LDDDLL":
		v.country, v.display = "NL", norm[:1]+"-"+norm[1:4]+"-"+norm[4:]
	}
	return v
}

// shape maps letters to L and digits to D.
func shape(norm string) string {
	b := []byte(norm)
	for i, c := range b {
		if c >= '0' && c <= '9' {
			b[i] = 'D'
		} else {
			b[i] = 'L'
		}
	}
	return string(b)
}

// Plates returns n distinct normalized plates that look like the traffic
// of cfg (its seed and foreign share) but that none of the vehicles its
// Generator draws carries: a hotlist of any size whose plates the traffic
// reads only through Config.Listed (right, confused or garbled), so that
// every other read is a miss for an exact list.
func Plates(cfg Config, n int) []string {
	cfg.applyDefaults()
	seen := make(map[string]struct{}, population+n)
	for i := range uint64(population) {
		seen[makeVehicle(splitmix64(cfg.Seed^splitmix64(i)), cfg.ForeignShare).norm] = struct{}{}
	}
	out := make([]string, 0, n)
	for i := uint64(population); len(out) < n; i++ {
		v := makeVehicle(splitmix64(cfg.Seed^splitmix64(i)), cfg.ForeignShare)
		if _, dup := seen[v.norm]; !dup {
			seen[v.norm] = struct{}{}
			out = append(out, v.norm)
		}
	}
	return out
}
