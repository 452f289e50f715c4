package mdm_test

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	"github.com/enrollkit/enrollkit/mdm"
)

// TestCapturesThroughService replays real devices' enrollment sequences
// (testdata/captures, provenance in its README) through the Service: each
// body is signed with a test identity, as the device signed it with the
// identity it had, and the Service stores the enrollment the device named,
// of the type its identifiers say.
func TestCapturesThroughService(t *testing.T) {
	for _, tt := range []struct {
		name    string
		from    string
		checkin []string // check-in bodies, in order
		command []string // then command-result bodies, in order
		want    mdm.EnrollmentRecord
	}{
		{
			name:    "account-driven User Enrollment",
			from:    "fleet docs, iPhone12,1 iOS 18.2.1",
			checkin: []string{"fleet-docs/Authenticate.ue.plist", "fleet-docs/TokenUpdate.ue.plist"},
			command: []string{"fleet-docs/Idle.ue.plist"},
			want: mdm.EnrollmentRecord{ID: "FB833D84-50C0-41DD-99DE-F748E44FFEF5", Type: mdm.UserEnrollmentDevice,
				OSVersion: "18.2.1", BuildVersion: "22C161", ProductName: "iPhone12,1", Enrolled: true},
		},
		{
			name:    "iPad device enrollment",
			from:    "nanomdm, iPad2,5 iOS 9.3.5",
			checkin: []string{"nanomdm/Authenticate.1.plist", "nanomdm/TokenUpdate.1.plist"},
			want: mdm.EnrollmentRecord{ID: "663b07bb783e9ade1dae4fbb92ea12afc0ce5b69", Type: mdm.Device,
				OSVersion: "9.3.5", BuildVersion: "13G36", ProductName: "iPad2,5", SerialNumber: "F5JM992LF193", Enrolled: true},
		},
		{
			name:    "Mac device enrollment",
			from:    "nanomdm, iMac14,2 macOS 10.12.6",
			checkin: []string{"nanomdm/Authenticate.2.plist", "nanomdm/TokenUpdate.2.plist"},
			want: mdm.EnrollmentRecord{ID: "66ADE930-5FDF-5EC4-8429-15640684C489", Type: mdm.Device,
				OSVersion: "10.12.6", BuildVersion: "16G2136", ProductName: "iMac14,2", SerialNumber: "C02MT66KFLHH",
				DeviceName: "Fruit", Model: "iMac14,2", ModelName: "iMac", Enrolled: true},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			d := newDevice(t, h.ca, mdm.Identifiers{}, 1)
			for _, f := range tt.checkin {
				if w := d.checkin(t, h.svc, mdm.ReadCapture(t, f)); w.Code != http.StatusOK {
					t.Fatalf("%s %s: %d %s", tt.from, f, w.Code, w.Body)
				}
			}
			for _, f := range tt.command {
				if uuid := uuidOf(t, d.command(t, h.svc, mdm.ReadCapture(t, f))); uuid != "" {
					t.Fatalf("%s %s: got command %q from an empty queue", tt.from, f, uuid)
				}
			}
			rec, err := h.store.Enrollment(context.Background(), tt.want.ID)
			if err != nil {
				t.Fatalf("%s: %v", tt.from, err)
			}
			got := mdm.EnrollmentRecord{ID: rec.ID, Type: rec.Type, OSVersion: rec.OSVersion, BuildVersion: rec.BuildVersion,
				ProductName: rec.ProductName, SerialNumber: rec.SerialNumber, DeviceName: rec.DeviceName, Model: rec.Model,
				ModelName: rec.ModelName, Enrolled: rec.Enrolled}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("%s: stored\n%+v\nwant\n%+v", tt.from, got, tt.want)
			}
			if rec.Certificate != mdm.FingerprintOf(d.cert.Raw) || len(rec.Token) != 32 {
				t.Fatalf("%s: certificate %s, token %d bytes", tt.from, rec.Certificate, len(rec.Token))
			}
		})
	}
}
