// Package mdmtest is the conformance suite for mdm.Store implementations.
// Every store in this module runs it, and a host that writes its own store
// proves it the same way, in one line:
//
//	func TestStore(t *testing.T) {
//		mdmtest.Run(t, func(t *testing.T) mdm.Store { return newStore(t) })
//	}
//
// The suite checks the contract written on mdm.EnrollmentStore and
// mdm.CommandQueue: what a missing key returns, atomic certificate binding,
// ordered delivery with leases and NotNow, results, copy semantics,
// concurrent delivery of a command to exactly one caller, command expiry,
// claims of lapsed leases with their back-off, and pruning in bounded
// batches that never touches pending commands or live records. It exercises the
// part of Apple's MDM protocol described at
// https://developer.apple.com/documentation/devicemanagement/commands-and-queries
package mdmtest
