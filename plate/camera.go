package plate

import "time"

// Camera is one entry of the camera registry (SPEC §7).
type Camera struct {
	ID        string
	Name      string
	Lat, Lon  float64
	Road      string
	Direction string
	// Certificate is the camera's metrology certificate; a zero ID means
	// none, and such a camera's reads can never prove a speed.
	Certificate Certificate
}

// Certificate is a metrology certificate valid until ValidUntil (exclusive).
type Certificate struct {
	ID         string
	ValidUntil time.Time
}

// ValidAt reports whether the certificate covers capture time t.
func (c Certificate) ValidAt(t time.Time) bool {
	return c.ID != "" && t.Before(c.ValidUntil)
}
