// Command genpolicy generates the User Enrollment command table of package
// mdm from Apple's device-management schema: a command is allowed when its
// payload.supportedOS.iOS.userenrollment.mode is "allowed". It reads the
// commands directory given as its argument, so the schema itself never
// enters this repository:
//
//	go run ./internal/genpolicy -o zz_policy.go <schema checkout>/mdm/commands
//
// The schema's YAML is regular enough that a small indentation-aware line
// reader suffices; no YAML dependency is needed. The schema is described at
// https://github.com/apple/device-management
package main
