package acme

// Names the external tests, fuzz targets and benchmarks use that hosts
// never need.
var (
	VerifyAttestation      = verifyAttestation
	ParseAttestationObject = parseAttestationObject
)
