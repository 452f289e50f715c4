package enroll

// Names the external tests and benchmarks use that hosts never need.
type (
	WellKnownResponse  = wellKnownResponse
	WellKnownError     = wellKnownError
	MachineInfoOptions = machineInfoOptions
)

var (
	ParseMachineInfo = parseMachineInfo
	TermsDigest      = termsDigest
)

const (
	MaxMachineInfoSize = maxMachineInfoSize
)
