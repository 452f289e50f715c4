package mdm_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/enrollkit/enrollkit/mdm"
)

// macAuthenticate is a macOS User Enrollment's Authenticate.
func (d *device) macAuthenticate() []byte {
	return plistDoc(`<key>BuildVersion</key><string>24B83</string>` + d.idKeys() +
		`<key>MessageType</key><string>Authenticate</string><key>OSVersion</key><string>15.1</string>` +
		`<key>ProductName</key><string>Mac14,2</string><key>Topic</key><string>` + topic + `</string>`)
}

// enrollMac enrolls a macOS User Enrollment's device channel and its user
// channel and returns them.
func enrollMac(t *testing.T, h *harness, eid string) (dev, user *device) {
	t.Helper()
	dev = ueDevice(t, h, eid, 1)
	user = &device{ident: mdm.Identifiers{EnrollmentID: eid, EnrollmentUserID: "USER-1"}, cert: dev.cert, key: dev.key}
	for _, step := range []struct {
		d    *device
		body []byte
	}{{dev, dev.macAuthenticate()}, {dev, dev.tokenUpdate("3q2+7w==")}, {user, user.tokenUpdate("3q2+7w==")}} {
		if w := step.d.checkin(t, h.svc, step.body); w.Code != http.StatusOK {
			t.Fatalf("enroll Mac: %d %s", w.Code, w.Body)
		}
	}
	return dev, user
}

// idOf returns the ID of d's channel.
func idOf(t *testing.T, d *device) mdm.EnrollmentID {
	t.Helper()
	c, err := d.ident.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// enrollPhoneAndMac enrolls, on a new harness, an iPhone's User Enrollment
// and a Mac's, with its user channel.
func enrollPhoneAndMac(t *testing.T) (h *harness, phone, macDevice, macUser mdm.EnrollmentID) {
	t.Helper()
	h = newHarness(t, nil)
	iPhone := ueDevice(t, h, "A1B2C3D4-0000-4000-8000-000000000001", 2)
	h.enroll(iPhone)
	dev, user := enrollMac(t, h, "A1B2C3D4-0000-4000-8000-000000000002")
	return h, idOf(t, iPhone), idOf(t, dev), idOf(t, user)
}

// TestEnqueuePerPlatformAndChannel queues, through the Service, commands
// that Apple allows on one platform or channel of a User Enrollment and
// forbids on another.
func TestEnqueuePerPlatformAndChannel(t *testing.T) {
	h, phone, macDevice, macUser := enrollPhoneAndMac(t)
	ctx := context.Background()

	tests := []struct {
		to      mdm.EnrollmentID
		command string
		allowed bool
	}{
		{macDevice, "InstallMedia", false},
		{macDevice, "InstalledApplicationList", false},
		{macDevice, "ManagedApplicationFeedback", false},
		{macDevice, "DeviceLock", false},
		{macDevice, "RemoveApplication", false},
		{macDevice, "InstallEnterpriseApplication", true},
		{macUser, "InstallMedia", false},
		{macUser, "InstallEnterpriseApplication", false},
		{macUser, "InstallApplication", true},
		{phone, "InstallMedia", true},
		{phone, "InstalledApplicationList", true},
		{phone, "ManagedApplicationFeedback", true},
		{phone, "DeviceLock", true},
		{phone, "RemoveApplication", true},
		{phone, "InstallEnterpriseApplication", false},
	}
	for i, tc := range tests {
		cmd, err := mdm.NewCommand(tc.command+"-"+string(rune('a'+i)), map[string]any{"RequestType": tc.command})
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.Enqueue(ctx, cmd, tc.to)
		var pe *mdm.PolicyError
		switch {
		case tc.allowed && err != nil:
			t.Errorf("Enqueue %s to %s = %v, want it queued", tc.command, tc.to, err)
		case !tc.allowed && (!errors.As(err, &pe) || pe.Enrollment != tc.to || pe.RequestType != tc.command):
			t.Errorf("Enqueue %s to %s = %v, want a PolicyError", tc.command, tc.to, err)
		}
	}
}

// TestPlatformRecorded checks what Authenticate and TokenUpdate record: the
// platform and release of the device channel, copied to its user channel.
func TestPlatformRecorded(t *testing.T) {
	h, phone, macDevice, macUser := enrollPhoneAndMac(t)
	ctx := context.Background()
	iPad := newDevice(t, h.ca, mdm.Identifiers{UDID: "00008030-000A1B2C3D4E5F60"}, 3)
	h.enroll(iPad)
	tests := []struct {
		id        mdm.EnrollmentID
		typ       mdm.EnrollmentType
		platform  mdm.Platform
		osVersion string
	}{
		{phone, mdm.UserEnrollmentDevice, mdm.PlatformIOS, "18.1"},
		{macDevice, mdm.UserEnrollmentDevice, mdm.PlatformMacOS, "15.1"},
		{macUser, mdm.UserEnrollmentUser, mdm.PlatformMacOS, "15.1"},
		{"00008030-000A1B2C3D4E5F60", mdm.Device, mdm.PlatformIPadOS, "17.6"},
	}
	for _, tc := range tests {
		rec, err := h.svc.Enrollment(ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Type != tc.typ || rec.Platform != tc.platform || rec.OSVersion != tc.osVersion || rec.Type.IsUserChannel() != (tc.typ == mdm.UserEnrollmentUser) {
			t.Errorf("%s: type %s, platform %q, OS %q; want %s, %q, %q", tc.id, rec.Type, rec.Platform, rec.OSVersion, tc.typ, tc.platform, tc.osVersion)
		}
	}
}

func TestPlatformOf(t *testing.T) {
	tests := []struct {
		productName, model, modelName string
		want                          mdm.Platform
	}{
		{"iPhone16,1", "", "", mdm.PlatformIOS},
		{"iPod9,1", "", "", mdm.PlatformIOS},
		{"iPad13,4", "J517AP", "iPad", mdm.PlatformIPadOS},
		{"", "J517AP", "iPad", mdm.PlatformIPadOS},
		{"Mac14,2", "", "", mdm.PlatformMacOS},
		{"MacBookPro18,3", "MacBookPro18,3", "MacBook Pro", mdm.PlatformMacOS},
		{"iMac21,1", "", "", mdm.PlatformMacOS},
		{"Macmini9,1", "", "", mdm.PlatformMacOS},
		{"VirtualMac2,1", "", "", mdm.PlatformMacOS},
		{"", "", "Mac Studio", mdm.PlatformMacOS},
		{"AppleTV11,1", "", "", mdm.PlatformTVOS},
		{"", "", "Apple TV", mdm.PlatformTVOS},
		{"RealityDevice14,1", "", "", mdm.PlatformVisionOS},
		{"", "", "Apple Vision Pro", mdm.PlatformVisionOS},
		{"Watch6,1", "", "", mdm.PlatformWatchOS},
		{"", "", "", mdm.PlatformUnknown},
		{"Pixel 8", "", "", mdm.PlatformUnknown},
		{"iphone15,4", "", "", mdm.PlatformUnknown},
	}
	for _, tc := range tests {
		if got := mdm.PlatformOf(tc.productName, tc.model, tc.modelName); got != tc.want {
			t.Errorf("PlatformOf(%q, %q, %q) = %q, want %q", tc.productName, tc.model, tc.modelName, got, tc.want)
		}
	}
}

// TestTokenUpdateFillsPlatform checks that a record stored before platforms
// were recorded learns its platform at the next TokenUpdate, from its own
// stored product name or, for a user channel, from its device channel.
func TestTokenUpdateFillsPlatform(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	dev, user := enrollMac(t, h, "A1B2C3D4-0000-4000-8000-000000000003")
	for _, d := range []*device{dev, user} {
		rec, err := h.store.Enrollment(ctx, idOf(t, d))
		if err != nil {
			t.Fatal(err)
		}
		rec.Platform = mdm.PlatformUnknown // as a row stored before platforms were
		if err := h.store.PutEnrollment(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []*device{user, dev} { // the user channel first: its device channel's row is still old
		if w := d.checkin(t, h.svc, d.tokenUpdate("3q2+7w==")); w.Code != http.StatusOK {
			t.Fatalf("TokenUpdate: %d", w.Code)
		}
		rec, err := h.store.Enrollment(ctx, idOf(t, d))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Platform != mdm.PlatformMacOS || rec.OSVersion != "15.1" {
			t.Errorf("%s after TokenUpdate: platform %q, OS %q; want macOS 15.1", rec.ID, rec.Platform, rec.OSVersion)
		}
	}
}
