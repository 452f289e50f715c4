// Command genpolicy generates the command tables of package mdm from Apple's
// device-management schema: for every command and every OS of the schema
// (iOS, macOS, tvOS, visionOS, watchOS) the release that introduced it (or
// none), the release that removed it, the channels it runs on, whether User
// Enrollment allows it and whether a Shared iPad's device and user channels
// take it.
//
// Its argument is the root of a schema checkout; the schema itself never
// enters this repository:
//
//	go run ./internal/genpolicy -o zz_policy.go <schema root>
//
// It reads, from that root:
//
//   - mdm/commands/*.yaml, each command's payload.supportedOS.<OS> keys
//     introduced ("n/a": not on that OS), removed, devicechannel (default
//     true), userchannel (default false), userenrollment.mode ("allowed" or
//     "required": User Enrollment may receive it) and sharedipad.mode,
//     .devicechannel and .userchannel;
//   - README.md, whose OS table names the release of those files;
//   - every CHANGES-<release>.md newer than that release (Apple's change
//     list of a release): a command file it lists as removed is marked
//     removed in that release on every OS that had it, and a command file it
//     lists as new must either be in mdm/commands or among the facts this
//     command carries for such files (facts.go), or generation fails.
//
// Commands removed in an earlier release, whose files a newer folder no
// longer has, come from facts.go too, so that regenerating from a newer
// folder keeps refusing them for devices on their removal release or later.
//
// The schema's YAML is regular enough that a small indentation-aware line
// reader suffices; no YAML dependency is needed. The schema is described at
// https://github.com/apple/device-management
package main
