package mdm

import (
	"slices"

	"github.com/enrollkit/enrollkit/mdm/internal/release"
)

// To regenerate zz_policy.go, set APPLE_DEVICE_MANAGEMENT to the root of a
// checkout of Apple's device-management schema and run go generate (see
// internal/genpolicy and the README).
//go:generate go run ./internal/genpolicy -o zz_policy.go $APPLE_DEVICE_MANAGEMENT

// schemaOS indexes the OSes of Apple's schema in the generated table.
type schemaOS int

const (
	schemaIOS schemaOS = iota
	schemaMacOS
	schemaTVOS
	schemaVisionOS
	schemaWatchOS
	numSchemaOS
)

var schemaOSNames = [numSchemaOS]string{"iOS", "macOS", "tvOS", "visionOS", "watchOS"}

// osSupport is what one OS supports of one command (generated from the
// schema). introduced is empty when the OS does not have the command.
type osSupport struct {
	introduced, removed string
	// device and user are the channels the command runs on.
	device, user bool
	// userEnrollment: a User Enrollment may receive the command.
	userEnrollment bool
	// sharedDevice and sharedUser: a Shared iPad's channels that take it.
	sharedDevice, sharedUser bool
}

// tablesOf returns the schema OSes whose tables decide for an enrollment
// of type t on platform p: the one of p, or, when p is unknown, every OS
// such an enrollment can be on, all of which must allow a command (the
// strictest table, their intersection). A user channel exists only on
// macOS (and on a Shared iPad, which is iPadOS); User Enrollment exists on
// iOS, iPadOS, macOS and visionOS.
func tablesOf(t EnrollmentType, p Platform) []schemaOS {
	switch p {
	case PlatformIOS, PlatformIPadOS:
		return []schemaOS{schemaIOS}
	case PlatformMacOS:
		return []schemaOS{schemaMacOS}
	case PlatformTVOS:
		return []schemaOS{schemaTVOS}
	case PlatformVisionOS:
		return []schemaOS{schemaVisionOS}
	case PlatformWatchOS:
		return []schemaOS{schemaWatchOS}
	}
	switch t {
	case UserEnrollmentDevice:
		return []schemaOS{schemaIOS, schemaMacOS, schemaVisionOS}
	case UserEnrollmentUser, User:
		return []schemaOS{schemaMacOS}
	case SharedIPadUser:
		return []schemaOS{schemaIOS}
	}
	return []schemaOS{schemaIOS, schemaMacOS, schemaTVOS, schemaVisionOS, schemaWatchOS}
}

// CheckPolicy returns a *PolicyError (matching ErrCommandNotAllowed) when
// the command requestType may not be queued for the enrollment rec, going
// by its Type (enrollment type and channel), Platform and OSVersion and by
// the tables generated from Apple's schema (SchemaRelease). A command is
// refused when:
//
//   - rec's platform does not have it (ReasonPlatform);
//   - it does not run on rec's channel there: the device or the user
//     channel, or a Shared iPad's user channel (ReasonChannel);
//   - rec is a User Enrollment and Apple does not allow it under User
//     Enrollment on that platform (ReasonUserEnrollment);
//   - it was removed in a release, and rec's OS version is that release or
//     later or is not known (ReasonRemoved);
//   - rec is a User Enrollment and the schema does not know the command
//     (ReasonUnknownCommand): a personal device receives only what Apple
//     allows. Other enrollments may receive commands the schema does not
//     know.
//
// A record whose Platform is PlatformUnknown (stored before platforms were
// recorded) is judged by the platform its stored ProductName, Model and
// ModelName name, as at Authenticate. When they name none either, it gets
// the strictest table: the command must pass on every platform its enrollment
// type can be on. A command introduced in a release later than rec's OS
// version is not refused: the recorded version dates from the last
// Authenticate, and the device may have updated since.
func CheckPolicy(rec *EnrollmentRecord, requestType string) error {
	platform := rec.platform()
	refuse := func(reason PolicyReason, table schemaOS, release string) error {
		pe := &PolicyError{RequestType: requestType, Enrollment: rec.ID, Type: rec.Type, Platform: platform,
			OSVersion: rec.OSVersion, Reason: reason, Release: release}
		if reason != ReasonUnknownCommand {
			pe.Table = schemaOSNames[table]
		}
		return pe
	}
	support, known := schemaCommands[requestType]
	if !known {
		if rec.Type.IsUserEnrollment() {
			return refuse(ReasonUnknownCommand, 0, "")
		}
		return nil
	}
	for _, os := range tablesOf(rec.Type, platform) {
		s := support[os]
		if s.introduced == "" {
			return refuse(ReasonPlatform, os, "")
		}
		var onChannel bool
		switch {
		case rec.Type == SharedIPadUser:
			onChannel = s.sharedUser
		case rec.Type.IsUserChannel():
			onChannel = s.user
		default:
			onChannel = s.device
		}
		if !onChannel {
			return refuse(ReasonChannel, os, "")
		}
		if rec.Type.IsUserEnrollment() && !s.userEnrollment {
			return refuse(ReasonUserEnrollment, os, "")
		}
		if s.removed != "" {
			if cmp, ok := release.Compare(rec.OSVersion, s.removed); cmp >= 0 || !ok {
				return refuse(ReasonRemoved, os, s.removed)
			}
		}
	}
	return nil
}

// platform returns r.Platform or, when that is unknown (a record stored
// before platforms were recorded), the platform its stored device facts
// name.
func (r *EnrollmentRecord) platform() Platform {
	if r.Platform != PlatformUnknown {
		return r.Platform
	}
	return PlatformOf(r.ProductName, r.Model, r.ModelName)
}

// AllowedCommands returns, sorted, the RequestTypes of Apple's schema that
// CheckPolicy lets through for rec.
func AllowedCommands(rec *EnrollmentRecord) []string {
	var out []string
	for rt := range schemaCommands {
		if CheckPolicy(rec, rt) == nil {
			out = append(out, rt)
		}
	}
	slices.Sort(out)
	return out
}

// SchemaRelease is the release of Apple's device-management schema the
// command policy was generated from.
func SchemaRelease() string { return schemaRelease }
