package postgres

// FreshSchema lends testSchema to the package's external tests: the DSN
// and a fresh schema name that is dropped when the test ends.
var FreshSchema = testSchema
