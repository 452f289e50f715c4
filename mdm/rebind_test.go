package mdm_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/enrollkit/enrollkit/mdm"
)

// TestRebindOnlyForLiveRecord: Request.Rebind says that an Authenticate
// would move a live record to another certificate; an Authenticate for a
// checked-out record is a device enrolling again, not a Rebind.
func TestRebindOnlyForLiveRecord(t *testing.T) {
	var seen []bool
	h := newHarness(t, func(o *mdm.Config) {
		o.Prechecker = mdm.PrecheckFunc(func(ctx context.Context, r *mdm.Request) error {
			if _, ok := r.Message.(*mdm.Authenticate); !ok {
				return nil
			}
			seen = append(seen, r.Rebind)
			if r.Rebind {
				return errors.New("the record belongs to another identity")
			}
			return nil
		})
	})
	first := ueDevice(t, h, "UE-R", 1)
	h.enroll(first)
	second := ueDevice(t, h, "UE-R", 2)
	if w := second.checkin(t, h.svc, second.authenticate()); w.Code != http.StatusForbidden {
		t.Fatalf("Authenticate taking over a live record: %d, want 403", w.Code)
	}
	if w := first.checkin(t, h.svc, first.checkOut()); w.Code != http.StatusOK {
		t.Fatalf("CheckOut: %d", w.Code)
	}
	if w := second.checkin(t, h.svc, second.authenticate()); w.Code != http.StatusOK {
		t.Fatalf("Authenticate for a checked-out record: %d, want 200", w.Code)
	}
	if len(seen) != 3 || seen[0] || !seen[1] || seen[2] {
		t.Fatalf("Rebind seen by the Prechecker: %v, want [false true false]", seen)
	}
	rec, err := h.svc.Enrollment(context.Background(), "UE-R")
	if err != nil || rec.Certificate != mdm.FingerprintOf(second.cert.Raw) || rec.CheckedOut {
		t.Fatalf("record after enrolling again: %+v, %v", rec, err)
	}
}

// TestSerialNumberNotKeptUnderUserEnrollment: a User Enrollment device does
// not disclose its serial number; one that sends it is not believed.
// A device enrollment keeps it.
func TestSerialNumberNotKeptUnderUserEnrollment(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil)
	ue := ueDevice(t, h, "UE-S", 1)
	body := plistDoc(ue.idKeys() + `<key>MessageType</key><string>Authenticate</string><key>Topic</key><string>` + topic +
		`</string><key>ProductName</key><string>iPhone16,1</string><key>SerialNumber</key><string>F2LX1234ABCD</string>`)
	if w := ue.checkin(t, h.svc, body); w.Code != http.StatusOK {
		t.Fatalf("Authenticate: %d %s", w.Code, w.Body)
	}
	dev := newDevice(t, h.ca, mdm.Identifiers{UDID: "00008110-000A1B2C3D4E801E"}, 2)
	h.enroll(dev)
	for id, want := range map[mdm.EnrollmentID]string{"UE-S": "", "00008110-000A1B2C3D4E801E": "F9FXK0ABCD12"} {
		rec, err := h.svc.Enrollment(ctx, id)
		if err != nil || rec.SerialNumber != want {
			t.Fatalf("%s: serial number %q (%v), want %q", id, rec.SerialNumber, err, want)
		}
	}
	if rec, _ := h.svc.Enrollment(ctx, "UE-S"); rec.ProductName != "iPhone16,1" {
		t.Fatalf("other facts dropped too: %+v", rec)
	}
}
