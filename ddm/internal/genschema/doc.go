// Command genschema generates package ddm's declaration table from Apple's
// device-management schema: for every declaration type in
// declarative/declarations, the platforms it is supported on, the OS
// release that introduced it there, the enrollment types
// (allowed-enrollments) and channel scopes (allowed-scopes) it may be sent
// to, and the payload keys that name assets (assettypes). It reads the
// declarations directory given as its argument, so the schema itself never
// enters this repository:
//
//	go run ./internal/genschema -o zz_schema.go <schema checkout>/declarative/declarations
//
// A small indentation-aware reader of the YAML subset the schema uses
// (maps, lists, flow lists, block and multi-line scalars, anchors) is
// enough; no YAML dependency is needed. The schema is described at
// https://github.com/apple/device-management
package main
