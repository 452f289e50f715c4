// Package sqlite keeps enrollments, MDM channels, command queues and the
// audit trail in one SQLite file: the embedded, durable default for a portal
// that runs as a single process. It uses a pure Go SQLite (no cgo), runs in
// WAL mode with one writer connection and a pool of read-only readers, and
// applies the schema migrations compiled into the binary when the database
// is opened (a file written by newer code is refused with a *SchemaError and
// left alone).
//
// A DB returned by Open exposes its stores: DB.Enroll implements
// enroll.Store (and enroll.FailureStore, the sign-in throttle's counts),
// DB.MDM implements mdm.Store, DB.DDM ddm.Store, and DB.ACME acme.Store
// and acme.Nonces. They pass the conformance suites in enroll/enrolltest,
// mdm/mdmtest, ddm/ddmtest and acme/acmetest, also with two handles on one
// file.
//
// Every write is one transaction. A write that returned without error
// survives the process being killed at any moment; a write that returned an
// error left nothing behind. Hex SHA-256 values are stored as 32-byte blobs
// and the audit trail's repeated strings once each, so an enrolled device
// with its audit trail and MDM record takes about 1.8 KiB.
//
// The MDM side stores what Apple's MDM check-in and command protocol sends and
// nothing more (see
// https://developer.apple.com/documentation/devicemanagement/check-in and
// https://developer.apple.com/documentation/devicemanagement/commands_and_queries).
// For several replicas behind a load balancer use store/postgres.
package sqlite
