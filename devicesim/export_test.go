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
