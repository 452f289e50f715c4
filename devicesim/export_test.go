package devicesim

// Names the external tests use that hosts never need.
type (
	Form  = form
	Field = field
)

var (
	ParsePage    = parsePage
	ParseCommand = parseCommand
	SignDetached = signDetached
)

// DropAttestationRoot leaves d without an attestation root from now on,
// as a device enrolled with SCEP would be.
func DropAttestationRoot(d *Device) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.opts.AttestationRoot = nil
}
