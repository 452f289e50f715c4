package mdm_test

import (
	"context"
	"crypto"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/enrollkit/enrollkit/mdm"
)

func TestIdentify(t *testing.T) {
	var prechecked []*mdm.Request
	refuse := false
	h := newHarness(t, func(o *mdm.Config) {
		o.Prechecker = mdm.PrecheckFunc(func(_ context.Context, r *mdm.Request) error {
			if r.Message == nil && r.Result == nil {
				prechecked = append(prechecked, r)
				if refuse {
					return errors.New("not enrolled")
				}
			}
			return nil
		})
	})
	d := newDevice(t, h.ca, mdm.Identifiers{EnrollmentID: "E1"}, 1)
	h.enroll(d)
	get := func(signer *device, body []byte) (*mdm.Request, error) {
		r := httptest.NewRequest(http.MethodGet, "/mdm/assets/a", nil)
		if signer != nil {
			sig, err := mdm.Sign(body, signer.cert, signer.key, &mdm.SignOptions{Hash: crypto.SHA1})
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set("Mdm-Signature", sig)
		}
		return h.svc.Identify(r)
	}
	req, err := get(d, nil)
	if err != nil || req.Enrollment.ID != "E1" || req.Enrollment.Type != mdm.UserEnrollmentDevice || req.Fingerprint.IsZero() {
		t.Fatalf("Identify = %+v, %v", req, err)
	}
	if len(prechecked) != 1 {
		t.Fatalf("Prechecker ran %d times", len(prechecked))
	}
	stranger := newDevice(t, h.ca, mdm.Identifiers{EnrollmentID: "E2"}, 2)
	foreign := newDevice(t, newCA(t, "Other CA", 3), mdm.Identifiers{EnrollmentID: "E1"}, 4)
	tests := []struct {
		name   string
		signer *device
		body   []byte
		code   int
	}{
		{"no identity", nil, nil, http.StatusUnauthorized},
		{"signature over something else", d, []byte("x"), http.StatusUnauthorized},
		{"certificate bound to nothing", stranger, nil, http.StatusNotFound},
		{"foreign CA", foreign, nil, http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := get(tc.signer, tc.body)
			if code := mdm.StatusCode(err); code != tc.code {
				t.Fatalf("status %d (%v), want %d", code, err, tc.code)
			}
		})
	}
	refuse = true
	if _, err := get(d, nil); mdm.StatusCode(err) != http.StatusForbidden {
		t.Fatalf("refused by the Prechecker: %v", err)
	}
	refuse = false
	if w := d.checkin(t, h.svc, d.checkOut()); w.Code != http.StatusOK {
		t.Fatalf("CheckOut: %d", w.Code)
	}
	if _, err := get(d, nil); mdm.StatusCode(err) != http.StatusNotFound {
		t.Fatalf("after CheckOut: %v", err)
	}
}
