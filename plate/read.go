// Package plate is the shared vocabulary of anpr: the Read a camera sends,
// plate normalization and the OCR confusion classes. It imports nothing of
// ours, so every stage can depend on it.
package plate

import "time"

// Vehicle classes a camera may report (SPEC §3).
const (
	ClassUnknown    = "unknown"
	ClassCar        = "car"
	ClassVan        = "van"
	ClassTruck      = "truck"
	ClassBus        = "bus"
	ClassMotorcycle = "motorcycle"
)

// Read is one plate read by one camera (SPEC §3), decoded and validated.
//
// Optional numeric fields use -1 for "absent" so that a present zero (lane 0,
// confidence 0) survives a round trip.
type Read struct {
	ReadID       string
	CameraID     string
	TS           time.Time // capture time at the camera, UTC
	Plate        string    // as the OCR read it
	PlateNorm    string    // Normalize(Plate)
	Country      string    // ISO 3166-1 alpha-2 or empty
	Confidence   float64   // 0..1, or -1 when absent
	Lane         int       // ≥ 0, or -1 when absent
	VehicleClass string    // one of the Class constants; ClassUnknown by default
	ImageRef     string
}
