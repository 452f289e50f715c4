// Package postgres keeps enrollments, MDM channels, command queues and the
// audit trail in PostgreSQL, for portals that run several replicas behind a
// load balancer. It uses a pgx connection pool, applies the schema migrations
// compiled into the binary on start (replicas starting together serialise on
// an advisory lock; a schema written by newer code is refused with a
// *SchemaError and left alone), moves enrollments with version
// compare-and-swap updates, and hands each queued command to exactly one
// device request with row locks (FOR UPDATE SKIP LOCKED), so that replicas
// never deliver it twice.
//
// A DB returned by Open or New exposes its stores: DB.Enroll implements
// enroll.Store (and enroll.FailureStore, the sign-in throttle's counts,
// exact across replicas), DB.MDM implements mdm.Store, DB.DDM ddm.Store,
// and DB.ACME acme.Store and acme.Nonces, so that ACME orders and nonces
// work across replicas. They pass the conformance suites in
// enroll/enrolltest, mdm/mdmtest, ddm/ddmtest and acme/acmetest, also with
// two pools on one schema. Options.Schema keeps all tables in one
// PostgreSQL schema so that installations (and test runs) can share a
// database.
//
// Every write is a single statement or a single transaction: when it
// returns an error (a lost connection, a cancelled context) nothing of it
// remains. The one ambiguous case is a connection lost while COMMIT itself
// was in flight, where the write may or may not have been committed.
// Repeating such a write is safe: a repeated Update finds the version moved
// (enroll.ErrVersionConflict), a repeated Enqueue finds the UUID queued
// (mdm.ErrCommandExists).
//
// The MDM side stores what Apple's MDM check-in and command protocol sends and
// nothing more (see
// https://developer.apple.com/documentation/devicemanagement/check-in and
// https://developer.apple.com/documentation/devicemanagement/commands_and_queries).
package postgres
