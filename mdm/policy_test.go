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

func TestUserEnrollmentTableMatchesProtocol(t *testing.T) {
	var want []string
	for _, f := range strings.Split(protocolSection5, ",") {
		want = append(want, strings.TrimSpace(f))
	}
	slices.Sort(want)
	if len(want) != 24 {
		t.Fatalf("PROTOCOL §5 lists %d names, want 24", len(want))
	}
	got := mdm.UserEnrollmentCommands()
	if !slices.Equal(got, want) {
		t.Fatalf("generated table differs from PROTOCOL §5:\n got  %q\n want %q", got, want)
	}
	got[0] = "mutated"
	if mdm.UserEnrollmentCommands()[0] == "mutated" {
		t.Fatal("UserEnrollmentCommands returned the table itself")
	}
}

func TestCheckPolicy(t *testing.T) {
	refused := []string{"EraseDevice", "DeviceLocation", "EnableLostMode", "ClearPasscode", "RestartDevice", "ShutDownDevice",
		"Restrictions", "UserList", "ScheduleOSUpdate", "RequestUnlockToken", "ActivationLockBypassCode", "DeviceConfigured", "SomethingNew"}
	for _, typ := range []mdm.EnrollmentType{mdm.UserEnrollmentDevice, mdm.UserEnrollmentUser} {
		for _, rt := range refused {
			err := mdm.CheckPolicy(typ, rt)
			var pe *mdm.PolicyError
			if !errors.As(err, &pe) || !errors.Is(err, mdm.ErrCommandNotAllowed) || pe.RequestType != rt || pe.Type != typ {
				t.Errorf("CheckPolicy(%s, %s) = %v, want a PolicyError", typ, rt, err)
			}
		}
		for _, rt := range mdm.UserEnrollmentCommands() {
			if err := mdm.CheckPolicy(typ, rt); err != nil {
				t.Errorf("CheckPolicy(%s, %s) = %v, want nil", typ, rt, err)
			}
		}
	}
	for _, typ := range []mdm.EnrollmentType{mdm.Device, mdm.User, mdm.SharedIPadUser} {
		for _, rt := range refused {
			if err := mdm.CheckPolicy(typ, rt); err != nil {
				t.Errorf("CheckPolicy(%s, %s) = %v; the policy is for User Enrollment only", typ, rt, err)
			}
		}
	}
	if msg := (&mdm.PolicyError{RequestType: "EraseDevice", Enrollment: "E", Type: mdm.UserEnrollmentDevice}).Error(); msg != "mdm: command EraseDevice not allowed for user-enrollment-device enrollment E" {
		t.Errorf("message = %q", msg)
	}
}
