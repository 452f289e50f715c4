package mdm_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/mdm"
)

// protocolSection5 is the list of commands allowed under iOS User Enrollment
// as PROTOCOL.md §5 states it (24 names).
const protocolSection5 = `InstallApplication, InstalledApplicationList,
ManagedApplicationList, RemoveApplication, ValidateApplications, CertificateList, DeclarativeManagement,
DeviceLock, DeviceInformation, SecurityInfo, ManagedApplicationAttributes, ManagedApplicationConfiguration,
ManagedApplicationFeedback, InstallMedia, ManagedMediaList, RemoveMedia, RequestMirroring, InstallProfile,
ProfileList, InstallProvisioningProfile, RemoveProvisioningProfile, ProvisioningProfileList, RemoveProfile, Settings`

func TestIOSUserEnrollmentTableMatchesProtocol(t *testing.T) {
	var want []string
	for _, f := range strings.Split(protocolSection5, ",") {
		want = append(want, strings.TrimSpace(f))
	}
	slices.Sort(want)
	if len(want) != 24 {
		t.Fatalf("PROTOCOL §5 lists %d names, want 24", len(want))
	}
	for _, p := range []mdm.Platform{mdm.PlatformIOS, mdm.PlatformIPadOS} {
		got := mdm.AllowedCommands(&mdm.EnrollmentRecord{Type: mdm.UserEnrollmentDevice, Platform: p, OSVersion: "18.1"})
		if !slices.Equal(got, want) {
			t.Errorf("%s: generated table differs from PROTOCOL §5:\n got  %q\n want %q", p, got, want)
		}
	}
	if mdm.SchemaRelease() != "27.0" {
		t.Errorf("SchemaRelease = %q, want 27.0", mdm.SchemaRelease())
	}
}

// TestCheckPolicy names, per platform, channel and release, what the
// schema allows and refuses. The macOS cases are the ones the iOS-only User
// Enrollment table got wrong.
func TestCheckPolicy(t *testing.T) {
	const (
		ok       = mdm.PolicyReason("")
		platform = mdm.ReasonPlatform
		channel  = mdm.ReasonChannel
		ue       = mdm.ReasonUserEnrollment
		removed  = mdm.ReasonRemoved
		unknown  = mdm.ReasonUnknownCommand
	)
	type rec = mdm.EnrollmentRecord
	var (
		iPhoneUE  = rec{Type: mdm.UserEnrollmentDevice, Platform: mdm.PlatformIOS, OSVersion: "18.1"}
		iPadUE    = rec{Type: mdm.UserEnrollmentDevice, Platform: mdm.PlatformIPadOS, OSVersion: "26.2"}
		macUE     = rec{Type: mdm.UserEnrollmentDevice, Platform: mdm.PlatformMacOS, OSVersion: "15.1"}
		macUEUser = rec{Type: mdm.UserEnrollmentUser, Platform: mdm.PlatformMacOS, OSVersion: "15.1"}
		visionUE  = rec{Type: mdm.UserEnrollmentDevice, Platform: mdm.PlatformVisionOS, OSVersion: "2.1"}
		unknownUE = rec{Type: mdm.UserEnrollmentDevice}
		oldRowUE  = rec{Type: mdm.UserEnrollmentDevice, ProductName: "iPhone15,4", OSVersion: "17.5.1"}
		iPhone26  = rec{Type: mdm.Device, Platform: mdm.PlatformIOS, OSVersion: "26.4"}
		iPhone27  = rec{Type: mdm.Device, Platform: mdm.PlatformIOS, OSVersion: "27.0"}
		iPhone271 = rec{Type: mdm.Device, Platform: mdm.PlatformIOS, OSVersion: "27.0.1"}
		iPhoneNoV = rec{Type: mdm.Device, Platform: mdm.PlatformIOS}
		mac26     = rec{Type: mdm.Device, Platform: mdm.PlatformMacOS, OSVersion: "26.1"}
		mac27     = rec{Type: mdm.Device, Platform: mdm.PlatformMacOS, OSVersion: "27.0"}
		mac27User = rec{Type: mdm.User, Platform: mdm.PlatformMacOS, OSVersion: "27.0"}
		tv27      = rec{Type: mdm.Device, Platform: mdm.PlatformTVOS, OSVersion: "27.0"}
		sharedIPd = rec{Type: mdm.SharedIPadUser, Platform: mdm.PlatformIPadOS, OSVersion: "18.1"}
		unknownDv = rec{Type: mdm.Device}
		unknownUs = rec{Type: mdm.User}
	)
	tests := []struct {
		name    string
		rec     rec
		command string
		want    mdm.PolicyReason
		table   string
	}{
		// macOS User Enrollment, device channel: what Apple forbids there
		// although iOS allows it, and what only macOS has.
		{"macOS UE device InstallMedia", macUE, "InstallMedia", channel, "macOS"},
		{"macOS UE device InstalledApplicationList", macUE, "InstalledApplicationList", ue, "macOS"},
		{"macOS UE device ManagedApplicationFeedback", macUE, "ManagedApplicationFeedback", channel, "macOS"},
		{"macOS UE device DeviceLock", macUE, "DeviceLock", ue, "macOS"},
		{"macOS UE device RemoveApplication", macUE, "RemoveApplication", ue, "macOS"},
		{"macOS UE device InstallEnterpriseApplication", macUE, "InstallEnterpriseApplication", ok, ""},
		{"macOS UE device InstallApplication", macUE, "InstallApplication", ok, ""},
		{"macOS UE device ManagedMediaList", macUE, "ManagedMediaList", platform, "macOS"},
		// macOS User Enrollment, user channel.
		{"macOS UE user InstallMedia", macUEUser, "InstallMedia", ue, "macOS"},
		{"macOS UE user ManagedApplicationFeedback", macUEUser, "ManagedApplicationFeedback", ue, "macOS"},
		{"macOS UE user InstalledApplicationList", macUEUser, "InstalledApplicationList", ue, "macOS"},
		{"macOS UE user InstallEnterpriseApplication", macUEUser, "InstallEnterpriseApplication", channel, "macOS"},
		{"macOS UE user DeviceLock", macUEUser, "DeviceLock", channel, "macOS"},
		{"macOS UE user InstallApplication", macUEUser, "InstallApplication", ok, ""},
		{"macOS UE user ProfileList", macUEUser, "ProfileList", ok, ""},
		// iOS and iPadOS User Enrollment: the same commands are fine there.
		{"iOS UE InstallMedia", iPhoneUE, "InstallMedia", ok, ""},
		{"iOS UE InstalledApplicationList", iPhoneUE, "InstalledApplicationList", ok, ""},
		{"iOS UE ManagedApplicationFeedback", iPhoneUE, "ManagedApplicationFeedback", ok, ""},
		{"iOS UE DeviceLock", iPhoneUE, "DeviceLock", ok, ""},
		{"iOS UE RemoveApplication", iPhoneUE, "RemoveApplication", ok, ""},
		{"iOS UE InstallEnterpriseApplication", iPhoneUE, "InstallEnterpriseApplication", platform, "iOS"},
		{"iOS UE EraseDevice", iPhoneUE, "EraseDevice", ue, "iOS"},
		{"iOS UE ScheduleOSUpdate", iPhoneUE, "ScheduleOSUpdate", ue, "iOS"},
		{"iOS UE unknown command", iPhoneUE, "SomethingNew", unknown, ""},
		{"iPadOS UE DeviceLock", iPadUE, "DeviceLock", ok, ""},
		{"iPadOS UE DeviceLocation", iPadUE, "DeviceLocation", ue, "iOS"},
		// visionOS User Enrollment.
		{"visionOS UE DeviceLock", visionUE, "DeviceLock", ok, ""},
		{"visionOS UE RequestMirroring", visionUE, "RequestMirroring", platform, "visionOS"},
		// 27.0: the four software-update commands are removed; a device on
		// 27.0 or later, or on a release not known, does not get them.
		{"iOS 26.4 ScheduleOSUpdate", iPhone26, "ScheduleOSUpdate", ok, ""},
		{"iOS 27.0 ScheduleOSUpdate", iPhone27, "ScheduleOSUpdate", removed, "iOS"},
		{"iOS 27.0.1 AvailableOSUpdates", iPhone271, "AvailableOSUpdates", removed, "iOS"},
		{"iOS 27.0 OSUpdateStatus", iPhone27, "OSUpdateStatus", removed, "iOS"},
		{"iOS unknown release OSUpdateStatus", iPhoneNoV, "OSUpdateStatus", removed, "iOS"},
		{"macOS 26.1 ScheduleOSUpdateScan", mac26, "ScheduleOSUpdateScan", ok, ""},
		{"macOS 27.0 ScheduleOSUpdateScan", mac27, "ScheduleOSUpdateScan", removed, "macOS"},
		{"tvOS 27.0 ScheduleOSUpdate", tv27, "ScheduleOSUpdate", removed, "tvOS"},
		// 27.0: the two enhanced-log-collection commands are new, never
		// under User Enrollment, on the macOS user channel only.
		{"iOS 27.0 TriggerEnhancedLogCollection", iPhone27, "TriggerEnhancedLogCollection", ok, ""},
		{"iOS 27.0 CancelEnhancedLogCollection", iPhone27, "CancelEnhancedLogCollection", ok, ""},
		{"iOS UE TriggerEnhancedLogCollection", iPhoneUE, "TriggerEnhancedLogCollection", ue, "iOS"},
		{"macOS device TriggerEnhancedLogCollection", mac27, "TriggerEnhancedLogCollection", channel, "macOS"},
		{"macOS user TriggerEnhancedLogCollection", mac27User, "TriggerEnhancedLogCollection", ok, ""},
		{"macOS UE user CancelEnhancedLogCollection", macUEUser, "CancelEnhancedLogCollection", ue, "macOS"},
		{"tvOS CancelEnhancedLogCollection", tv27, "CancelEnhancedLogCollection", ok, ""},
		// Device enrollments: platform and channel.
		{"macOS device DeviceLock", mac26, "DeviceLock", ok, ""},
		{"macOS device ActiveNSExtensions", mac26, "ActiveNSExtensions", channel, "macOS"},
		{"macOS user ActiveNSExtensions", mac27User, "ActiveNSExtensions", ok, ""},
		{"macOS user DeviceLock", mac27User, "DeviceLock", channel, "macOS"},
		{"Shared iPad user UserConfigured", sharedIPd, "UserConfigured", ok, ""},
		{"Shared iPad user EraseDevice", sharedIPd, "EraseDevice", channel, "iOS"},
		{"tvOS DeviceLock", tv27, "DeviceLock", platform, "tvOS"},
		{"iOS device unknown command", iPhone26, "SomethingNew", ok, ""},
		// Unknown platform: the strictest table, every platform the
		// enrollment could be on must allow the command.
		{"unknown UE DeviceLock", unknownUE, "DeviceLock", ue, "macOS"},
		{"unknown UE InstallMedia", unknownUE, "InstallMedia", channel, "macOS"},
		{"unknown UE InstallEnterpriseApplication", unknownUE, "InstallEnterpriseApplication", platform, "iOS"},
		{"unknown UE InstalledApplicationList", unknownUE, "InstalledApplicationList", ue, "macOS"},
		{"unknown UE RequestMirroring", unknownUE, "RequestMirroring", platform, "visionOS"},
		{"unknown UE ProfileList", unknownUE, "ProfileList", ok, ""},
		{"unknown device EnableLostMode", unknownDv, "EnableLostMode", platform, "macOS"},
		{"unknown device DeviceInformation", unknownDv, "DeviceInformation", ok, ""},
		{"unknown device ScheduleOSUpdate", unknownDv, "ScheduleOSUpdate", removed, "iOS"},
		{"unknown user channel DeviceLock", unknownUs, "DeviceLock", channel, "macOS"},
		// A record stored before platforms were: its stored ProductName
		// names the platform.
		{"old row iPhone DeviceLock", oldRowUE, "DeviceLock", ok, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rec
			r.ID = "E"
			err := mdm.CheckPolicy(&r, tc.command)
			if tc.want == ok {
				if err != nil {
					t.Fatalf("CheckPolicy = %v, want nil", err)
				}
				return
			}
			var pe *mdm.PolicyError
			if !errors.As(err, &pe) || !errors.Is(err, mdm.ErrCommandNotAllowed) {
				t.Fatalf("CheckPolicy = %v, want a PolicyError", err)
			}
			if pe.Reason != tc.want || pe.Table != tc.table || pe.RequestType != tc.command || pe.Type != r.Type || pe.Enrollment != "E" || pe.OSVersion != r.OSVersion {
				t.Fatalf("PolicyError = %+v, want reason %q, table %q", pe, tc.want, tc.table)
			}
			if tc.want == removed && pe.Release != "27.0" {
				t.Errorf("Release = %q, want 27.0", pe.Release)
			}
		})
	}
}

// TestUnknownPlatformIsTheIntersection checks that a record whose platform
// is not known gets exactly what every platform it could be on allows.
func TestUnknownPlatformIsTheIntersection(t *testing.T) {
	tests := []struct {
		typ       mdm.EnrollmentType
		platforms []mdm.Platform
	}{
		{mdm.UserEnrollmentDevice, []mdm.Platform{mdm.PlatformIOS, mdm.PlatformMacOS, mdm.PlatformVisionOS}},
		{mdm.UserEnrollmentUser, []mdm.Platform{mdm.PlatformMacOS}},
		{mdm.Device, []mdm.Platform{mdm.PlatformIOS, mdm.PlatformMacOS, mdm.PlatformTVOS, mdm.PlatformVisionOS, mdm.PlatformWatchOS}},
		{mdm.User, []mdm.Platform{mdm.PlatformMacOS}},
	}
	for _, tc := range tests {
		t.Run(tc.typ.String(), func(t *testing.T) {
			var want []string
			for i, p := range tc.platforms {
				got := mdm.AllowedCommands(&mdm.EnrollmentRecord{Type: tc.typ, Platform: p})
				if i == 0 {
					want = got
					continue
				}
				want = slices.DeleteFunc(want, func(c string) bool { return !slices.Contains(got, c) })
			}
			got := mdm.AllowedCommands(&mdm.EnrollmentRecord{Type: tc.typ})
			if !slices.Equal(got, want) || len(got) == 0 {
				t.Fatalf("unknown platform allows %q, want the intersection %q", got, want)
			}
		})
	}
}

func TestPolicyErrorMessages(t *testing.T) {
	tests := []struct {
		err  mdm.PolicyError
		want string
	}{
		{mdm.PolicyError{RequestType: "InstallMedia", Enrollment: "E", Type: mdm.UserEnrollmentDevice, Platform: mdm.PlatformMacOS, OSVersion: "15.1", Reason: mdm.ReasonChannel, Table: "macOS"},
			"mdm: command InstallMedia not allowed for user-enrollment-device enrollment E (macOS 15.1): not on the device channel on macOS"},
		{mdm.PolicyError{RequestType: "DeviceLock", Type: mdm.UserEnrollmentUser, Platform: mdm.PlatformMacOS, Reason: mdm.ReasonChannel, Table: "macOS"},
			"mdm: command DeviceLock not allowed for user-enrollment-user enrollment (macOS): not on the user channel on macOS"},
		{mdm.PolicyError{RequestType: "ScheduleOSUpdate", Type: mdm.Device, Platform: mdm.PlatformIOS, OSVersion: "27.0", Reason: mdm.ReasonRemoved, Table: "iOS", Release: "27.0"},
			"mdm: command ScheduleOSUpdate not allowed for device enrollment (iOS 27.0): removed in iOS 27.0"},
		{mdm.PolicyError{RequestType: "DeviceLock", Type: mdm.UserEnrollmentDevice, Reason: mdm.ReasonUserEnrollment, Table: "macOS"},
			"mdm: command DeviceLock not allowed for user-enrollment-device enrollment (unknown platform): not allowed under User Enrollment on macOS"},
		{mdm.PolicyError{RequestType: "X", Type: mdm.UserEnrollmentDevice, OSVersion: "18.0", Reason: mdm.ReasonUnknownCommand},
			"mdm: command X not allowed for user-enrollment-device enrollment (unknown platform 18.0): not in Apple's schema"},
		{mdm.PolicyError{RequestType: "EnableLostMode", Type: mdm.Device, Platform: mdm.PlatformTVOS, Reason: mdm.ReasonPlatform, Table: "tvOS"},
			"mdm: command EnableLostMode not allowed for device enrollment (tvOS): not available on tvOS"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q\nwant %q", got, tc.want)
		}
	}
}
