// Package memory keeps enrollments and MDM state in process memory. It is the
// default store in tests and examples: fast, dependency free, and lost when the
// process exits. EnrollStore implements enroll.Store (and
// enroll.FailureStore) and MDMStore implements mdm.Store; both are safe for concurrent use. For durable storage use
// store/sqlite (one process) or store/postgres (several replicas). ACME's
// memory store is not here: acme.MemoryStore and acme.MemoryNonces are the
// acme.Handler's defaults.
package memory
