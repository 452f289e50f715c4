package mdm_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/enrollkit/enrollkit/mdm"
)

func TestErrorTypes(t *testing.T) {
	tests := []struct {
		err    error
		msg    string
		is     error
		status int
	}{
		{&mdm.RejectError{Status: http.StatusUnauthorized, Err: mdm.ErrUnauthorized}, "mdm: request rejected (401): mdm: unauthorized", mdm.ErrUnauthorized, 401},
		{&mdm.RejectError{Status: 418}, "mdm: request rejected (403)", nil, 403},
		{&mdm.IdentityError{Source: "TLS", Err: mdm.ErrUntrustedCertificate}, "mdm: identity (TLS): mdm: untrusted identity certificate", mdm.ErrUntrustedCertificate, 403},
		{&mdm.IdentityError{Err: mdm.ErrNoCertificate}, "mdm: identity: mdm: no identity certificate", mdm.ErrNoCertificate, 401},
		{&mdm.DecodeError{Field: "Status", Err: mdm.ErrUnknownStatus}, "mdm: decode Status: mdm: unknown command Status", mdm.ErrUnknownStatus, 400},
		{&mdm.DecodeError{Err: mdm.ErrBodyTooLarge}, "mdm: decode: mdm: body too large", mdm.ErrBodyTooLarge, 413},
		{&mdm.PolicyError{RequestType: "EraseDevice", Type: mdm.UserEnrollmentDevice, Platform: mdm.PlatformIOS, OSVersion: "18.1", Reason: mdm.ReasonUserEnrollment, Table: "iOS"},
			"mdm: command EraseDevice not allowed for user-enrollment-device enrollment (iOS 18.1): not allowed under User Enrollment on iOS", mdm.ErrCommandNotAllowed, 500},
		{mdm.ErrForbidden, "mdm: forbidden", mdm.ErrForbidden, 403},
		{mdm.ErrUnknownEnrollment, "mdm: unknown enrollment", mdm.ErrUnknownEnrollment, 404},
		{nil, "", nil, 200},
	}
	for _, tc := range tests {
		if tc.err == nil {
			if mdm.StatusCode(nil) != 200 {
				t.Error("StatusCode(nil) != 200")
			}
			continue
		}
		if tc.err.Error() != tc.msg {
			t.Errorf("Error() = %q, want %q", tc.err.Error(), tc.msg)
		}
		if tc.is != nil && !errors.Is(tc.err, tc.is) {
			t.Errorf("%v does not match %v", tc.err, tc.is)
		}
		if got := mdm.StatusCode(tc.err); got != tc.status {
			t.Errorf("StatusCode(%v) = %d, want %d", tc.err, got, tc.status)
		}
	}
	if mdm.EventKind(9).String() != "EventKind(?)" || mdm.EventCommandResult.String() != "CommandResult" {
		t.Error("EventKind names")
	}
}

func TestRefusalReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&mdm.RejectError{Status: http.StatusForbidden, Unenroll: true, Err: mdm.ErrForbidden}, "unenrolled"},
		// A Prechecker's verdict wins over the class of what it wraps.
		{&mdm.RejectError{Status: http.StatusForbidden, Err: mdm.ErrCertificateInUse}, "rejected-by-prechecker"},
		{fmt.Errorf("wrapped: %w", mdm.ErrUnauthorized), "rejected-by-prechecker"},
		{&mdm.IdentityError{Source: "Mdm-Signature", Err: mdm.ErrBadSignature}, "bad-signature"},
		{&mdm.IdentityError{Err: mdm.ErrCertificateInUse}, "certificate-in-use"},
		{&mdm.DecodeError{Err: mdm.ErrBodyTooLarge}, "body-too-large"},
		{&mdm.DecodeError{Field: "Status", Err: mdm.ErrUnknownStatus}, "malformed"},
		{fmt.Errorf("%w: UE-1", mdm.ErrUnknownEnrollment), "unknown-enrollment"},
		{errors.New("database is gone"), "internal"},
	}
	for _, tc := range tests {
		if got := mdm.RefusalReason(tc.err); got != tc.want {
			t.Errorf("RefusalReason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
