package enrollkittest_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net/http"
	"testing"

	"howett.net/plist"

	"github.com/enrollkit/enrollkit/acme/acmetest"
	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enrollkittest"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/profile"
)

// enrollDevice enrolls d for inv in the flow asked for.
func enrollDevice(ctx context.Context, srv *enrollkittest.Server, d *devicesim.Device, inv *enroll.Invitation, accountDriven bool) error {
	if accountDriven {
		return d.EnrollWithAccount(ctx, enrollkittest.DemoManagedAppleID, srv.URL, enrollkittest.DemoCredentials(inv))
	}
	return d.EnrollWithInvitation(ctx, inv.URL, enrollkittest.DemoCredentials(inv))
}

// answerCommand queues a ProfileList for d and has it poll and answer.
func answerCommand(t *testing.T, srv *enrollkittest.Server, d *devicesim.Device) {
	t.Helper()
	ctx := t.Context()
	enr, _ := d.Enrollment()
	cmd, err := mdm.NewCommand("acme-1", map[string]any{"RequestType": "ProfileList"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := srv.MDM.Enqueue(ctx, cmd, mdm.EnrollmentID(enr.EnrollmentID)); err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("Enqueue = %v, %v", res, err)
	}
	if _, err := d.Poll(ctx); err != nil {
		t.Fatalf("Poll: %v", err)
	}
	for _, c := range d.Commands() {
		if c.CommandUUID == "acme-1" && c.Status == "Acknowledged" {
			return
		}
	}
	t.Fatalf("command not answered: %+v", d.Commands())
}

// TestACMEEnrollment enrolls devices of both flows with hardware-bound,
// attested ACME identities and has them answer a command.
func TestACMEEnrollment(t *testing.T) {
	srv := enrollkittest.NewServer(t, enrollkittest.Options{ACME: true})
	tests := []struct {
		name          string
		opts          devicesim.Options
		accountDriven bool
	}{
		{"iOS 17 profile-based", devicesim.Options{OSVersion: "17.5.1"}, false},
		{"iOS 17 account-driven", devicesim.Options{OSVersion: "17.5.1"}, true},
		{"iOS 18 account-driven", devicesim.Options{ProductName: "iPhone17,1", OSVersion: "18.2.1", BuildVersion: "22C161"}, true},
		{"macOS 14 profile-based", devicesim.Options{ProductName: "Mac14,2", OSVersion: "14.6", BuildVersion: "23G80"}, false},
		{"macOS 15 account-driven", devicesim.Options{ProductName: "Mac16,1", OSVersion: "15.1", BuildVersion: "24B83"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			inv := srv.Invite(t, enrollkittest.DemoUser)
			d := srv.NewDeviceWith(t, tt.opts)
			if err := enrollDevice(ctx, srv, d, inv, tt.accountDriven); err != nil {
				t.Fatal(err)
			}
			enr, _ := d.Enrollment()
			key, ok := enr.Key.(*ecdsa.PrivateKey)
			if !ok || key.Curve.Params().BitSize != enroll.DefaultACMEKeySize {
				t.Fatalf("identity key is %T, want the ECDSA P-%d Secure Enclave key", enr.Key, enroll.DefaultACMEKeySize)
			}
			if err := enr.Certificate.CheckSignatureFrom(srv.CA.Certificate); err != nil {
				t.Fatalf("identity not issued by the CA: %v", err)
			}
			e, err := srv.Enroll.Get(ctx, inv.EnrollmentID)
			if err != nil {
				t.Fatal(err)
			}
			if e.State != enroll.StateEnrolled || e.CertificateHash != mdm.FingerprintOf(enr.Certificate.Raw).String() {
				t.Fatalf("enrollment %s, certificate %q", e.State, e.CertificateHash)
			}
			answerCommand(t, srv, d)
		})
	}
}

// downloadACME downloads the profile of inv with d and returns it and its
// ACME payload.
func downloadACME(t testing.TB, d *devicesim.Device, inv *enroll.Invitation) ([]byte, *profile.ACME) {
	t.Helper()
	raw, err := d.DownloadProfile(t.Context(), inv.URL, enrollkittest.DemoCredentials(inv))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := profile.Parse(raw, profile.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := parsed.Profile
	a, ok := p.Payload(p.MDM().IdentityCertificateUUID).(*profile.ACME)
	if !ok {
		t.Fatalf("identity payload is %T, want ACME", p.Payload(p.MDM().IdentityCertificateUUID))
	}
	return raw, a
}

// wantNothingIssued fails unless enrollment id is still waiting for its
// device, with its identifier unused and no certificate.
func wantNothingIssued(t *testing.T, srv *enrollkittest.Server, id string) {
	t.Helper()
	e, err := srv.Enroll.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if e.State != enroll.StateProfileIssued || e.ChallengeUsed || e.CertificateHash != "" {
		t.Fatalf("enrollment %s, identifier used %v, certificate %q: something was issued", e.State, e.ChallengeUsed, e.CertificateHash)
	}
}

// wantACMEError fails unless err is the ACME server's refusal of type typ.
func wantACMEError(t *testing.T, err error, typ string) {
	t.Helper()
	var ae *devicesim.ACMEError
	if !errors.As(err, &ae) || ae.Type != "urn:ietf:params:acme:error:"+typ {
		t.Fatalf("err = %v, want the ACME problem %s", err, typ)
	}
}

// TestACMERefusals checks that no certificate is issued for an attestation
// under another root, a replayed ClientIdentifier, or an order for
// another enrollment's identifier.
func TestACMERefusals(t *testing.T) {
	srv := enrollkittest.NewServer(t, enrollkittest.Options{ACME: true})

	t.Run("attestation under another root", func(t *testing.T) {
		other, err := acmetest.NewRoot("another Attestation Root CA")
		if err != nil {
			t.Fatal(err)
		}
		inv := srv.Invite(t, enrollkittest.DemoUser)
		d := srv.NewDeviceWith(t, devicesim.Options{AttestationRoot: other})
		err = d.EnrollWithInvitation(t.Context(), inv.URL, enrollkittest.DemoCredentials(inv))
		wantACMEError(t, err, "badAttestationStatement")
		if _, ok := d.Enrollment(); ok {
			t.Fatal("device enrolled")
		}
		wantNothingIssued(t, srv, inv.EnrollmentID)
	})

	t.Run("replayed ClientIdentifier", func(t *testing.T) {
		ctx := t.Context()
		inv := srv.Invite(t, enrollkittest.DemoUser)
		d := srv.NewDevice(t)
		raw, payload := downloadACME(t, d, inv)
		if err := d.Install(ctx, raw); err != nil {
			t.Fatal(err)
		}
		before, _ := srv.Enroll.Get(ctx, inv.EnrollmentID)
		// Another device that got hold of the payload orders with it.
		thief := srv.NewDevice(t)
		_, _, err := thief.EnrollACME(ctx, payload)
		wantACMEError(t, err, "unauthorized")
		after, _ := srv.Enroll.Get(ctx, inv.EnrollmentID)
		if after.CertificateHash != before.CertificateHash || after.State != before.State {
			t.Fatalf("replay changed the enrollment: %s %q, was %s %q", after.State, after.CertificateHash, before.State, before.CertificateHash)
		}
		answerCommand(t, srv, d)
	})

	t.Run("another enrollment's identifier", func(t *testing.T) {
		ctx := t.Context()
		invA, invB := srv.Invite(t, enrollkittest.DemoUser), srv.Invite(t, enrollkittest.DemoUser)
		a := srv.NewDevice(t)
		rawA, _ := downloadACME(t, a, invA)
		if err := a.Install(ctx, rawA); err != nil {
			t.Fatal(err)
		}
		b := srv.NewDevice(t)
		rawB, payloadB := downloadACME(t, b, invB)
		// A's ACME account is bound to A's identifier.
		_, _, err := a.EnrollACME(ctx, payloadB)
		wantACMEError(t, err, "rejectedIdentifier")
		wantNothingIssued(t, srv, invB.EnrollmentID)
		// B's identifier was not spent: B enrolls with it.
		if err := b.Install(ctx, rawB); err != nil {
			t.Fatal(err)
		}
	})
}

// TestACMEBindsCheckIns checks that an ACME certificate is what mdm binds
// to its enrollment: a check-in signed with it is accepted, and the SCEP
// certificate of another enrollment (a device too old for ACME, under
// SCEPFallback) does not check in for it.
func TestACMEBindsCheckIns(t *testing.T) {
	ctx := t.Context()
	srv := enrollkittest.NewServer(t, enrollkittest.Options{ACME: true, ACMEIdentity: enroll.ACMEConfig{SCEPFallback: true}})
	invA, invB := srv.Invite(t, enrollkittest.DemoUser), srv.Invite(t, enrollkittest.DemoUser)
	modern := srv.NewDeviceWith(t, devicesim.Options{OSVersion: "17.5.1"})
	if err := modern.EnrollWithInvitation(ctx, invA.URL, enrollkittest.DemoCredentials(invA)); err != nil {
		t.Fatal(err)
	}
	old := srv.NewDeviceWith(t, devicesim.Options{ProductName: "iPhone13,2", OSVersion: "15.8", BuildVersion: "19H370"})
	if err := old.EnrollWithInvitation(ctx, invB.URL, enrollkittest.DemoCredentials(invB)); err != nil {
		t.Fatal(err)
	}
	// The account-driven request tells the release: iOS 18 gets ACME.
	invC := srv.Invite(t, enrollkittest.DemoUser)
	ios18 := srv.NewDeviceWith(t, devicesim.Options{ProductName: "iPhone17,1", OSVersion: "18.2.1", BuildVersion: "22C161"})
	if err := ios18.EnrollWithAccount(ctx, enrollkittest.DemoManagedAppleID, srv.URL, enrollkittest.DemoCredentials(invC)); err != nil {
		t.Fatal(err)
	}
	if c, _ := ios18.Enrollment(); !isECDSA(c.Key) {
		t.Fatalf("account-driven iOS 18 under SCEPFallback got a %T identity, want ACME", c.Key)
	}
	a, _ := modern.Enrollment()
	b, _ := old.Enrollment()
	if !isECDSA(a.Key) {
		t.Fatalf("iOS 17 under SCEPFallback got a %T identity, want ACME", a.Key)
	}
	if _, ok := b.Key.(*rsa.PrivateKey); !ok {
		t.Fatalf("iOS 15 under SCEPFallback got a %T identity, want SCEP", b.Key)
	}
	tests := []struct {
		name   string
		cert   *x509.Certificate
		key    crypto.Signer
		wantOK bool
	}{
		{"its ACME certificate", a.Certificate, a.Key, true},
		{"another enrollment's SCEP certificate", b.Certificate, b.Key, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := tokenUpdate(t, srv, a, tt.cert, tt.key)
			if (status == http.StatusOK) != tt.wantOK {
				t.Fatalf("TokenUpdate for enrollment A answered %d", status)
			}
		})
	}
	answerCommand(t, srv, modern)
}

// tokenUpdate sends enr's TokenUpdate signed with cert and key (with its
// bearer token, if account-driven) and returns the status.
func tokenUpdate(t *testing.T, srv *enrollkittest.Server, enr devicesim.Enrollment, cert *x509.Certificate, key crypto.Signer) int {
	t.Helper()
	body, err := plist.Marshal(map[string]any{
		"MessageType": "TokenUpdate", "EnrollmentID": enr.EnrollmentID, "Topic": enr.Topic,
		"Token": enr.Token, "PushMagic": enr.PushMagic,
	}, plist.XMLFormat)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := devicesim.MdmSignature(body, cert, key, devicesim.SignatureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, enr.CheckInURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-apple-aspen-mdm-checkin")
	req.Header.Set("Mdm-Signature", sig)
	if enr.AccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+enr.AccessToken)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// isECDSA reports whether key is an ECDSA key: a (simulated) Secure
// Enclave key from ACME rather than an RSA key from SCEP.
func isECDSA(key crypto.Signer) bool {
	_, ok := key.(*ecdsa.PrivateKey)
	return ok
}

// TestACMEEnrollAgain checks that a device that removed its ACME-enrolled
// profile enrolls again with a new invitation: every profile gets its own
// ACME account.
func TestACMEEnrollAgain(t *testing.T) {
	ctx := t.Context()
	srv := enrollkittest.NewServer(t, enrollkittest.Options{ACME: true})
	d := srv.NewDevice(t)
	for i := range 2 {
		inv := srv.Invite(t, enrollkittest.DemoUser)
		if err := d.EnrollWithInvitation(ctx, inv.URL, enrollkittest.DemoCredentials(inv)); err != nil {
			t.Fatalf("enrollment %d: %v", i+1, err)
		}
		if err := d.Remove(ctx); err != nil {
			t.Fatalf("remove %d: %v", i+1, err)
		}
	}
}

// BenchmarkACMEIssuance measures one attested issuance over the wire, the
// device's side included: a Secure Enclave key, the account, the order,
// the attestation and its verification, finalize with the redemption of
// the identifier, and the certificate download. The portal steps before it
// are not timed.
func BenchmarkACMEIssuance(b *testing.B) {
	srv := enrollkittest.NewServer(b, enrollkittest.Options{ACME: true})
	for range b.N {
		b.StopTimer()
		inv := srv.Invite(b, enrollkittest.DemoUser)
		d := srv.NewDevice(b)
		_, payload := downloadACME(b, d, inv)
		b.StartTimer()
		if _, _, err := d.EnrollACME(b.Context(), payload); err != nil {
			b.Fatal(err)
		}
	}
}
