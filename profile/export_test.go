package profile

// Names the external tests use that hosts never need.
var (
	MarshalFormat = marshalFormat
	DeriveUUID    = deriveUUID
)
