// Package mdm is the server side of Apple's MDM check-in and command
// protocol, as an enrolled iPhone or iPad speaks it after installing an
// enrollment profile.
//
// A [Service] decodes check-in messages (Authenticate, TokenUpdate, CheckOut
// and the rest) and command results, works out who is speaking (the
// Mdm-Signature header, a TLS client certificate, or a certificate forwarded by
// a TLS-terminating proxy), binds the identity certificate seen at
// Authenticate to its enrollment, keeps a command queue per enrollment, wakes
// devices through a [Pusher], refuses commands that Apple's User Enrollment does
// not allow, and tells a host (and package enroll) what happened through
// [Prechecker] and [Observer] hooks. Everything durable goes through the small
// [Store] interface; store/memory, store/sqlite and store/postgres implement it
// and prove it with the conformance suite in mdm/mdmtest.
//
// Enrollments are keyed by [EnrollmentID]: the EnrollmentID the device reports
// under User Enrollment, the UDID for a device enrollment, and the
// "parent:user" form for user channels.
//
// Apple's documentation of the protocol this package implements:
// https://developer.apple.com/documentation/devicemanagement/check-in and
// https://developer.apple.com/documentation/devicemanagement/commands-and-queries
package mdm
