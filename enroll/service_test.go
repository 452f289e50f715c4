package enroll_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"image/png"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/profile"
)

func TestProfileFlow(t *testing.T) {
	f := newCoreFixture(t)
	ctx := context.Background()
	inv := f.invite(t, "alice")

	// The notifier got the same invitation, with a working link and QR.
	if len(f.sent) != 1 || f.sent[0] != inv {
		t.Fatalf("notifier got %d invitations", len(f.sent))
	}
	if !strings.HasPrefix(inv.URL, "https://portal.example.com/enroll/invitation/") || !strings.HasSuffix(inv.URL, inv.Token) {
		t.Errorf("invitation URL = %q", inv.URL)
	}
	if len(inv.Token) < 43 { // 256 bits in base64url
		t.Errorf("invitation token %q is short", inv.Token)
	}
	if img, err := png.Decode(bytes.NewReader(inv.QRCode)); err != nil || img.Bounds().Dx() != enroll.DefaultQRSize {
		t.Errorf("QR code: %v, %v", img, err)
	}
	if inv.ManagedAppleID != "alice@appleid.example.com" || !inv.ExpiresAt.Equal(coreStart.Add(enroll.DefaultInvitationTTL)) {
		t.Errorf("invitation = %+v", inv)
	}

	e, err := f.svc.OpenInvitation(ctx, coreMeta, inv.Token)
	if err != nil || e.ID != inv.EnrollmentID || e.State != enroll.StateInvited {
		t.Fatalf("OpenInvitation = %+v, %v", e, err)
	}
	// Nothing secret is stored in the clear.
	if strings.Contains(e.InvitationHash, inv.Token) || strings.Contains(e.Passcode.Hash, strings.ReplaceAll(inv.Passcode, "-", "")) {
		t.Fatal("secrets stored in the clear")
	}

	e = f.toConsented(t, inv, "alice", enroll.OwnershipEmployee)
	if e.State != enroll.StateConsented || e.TermsVersion != coreTerms.Version || e.TermsDigest != coreTerms.Digest() {
		t.Fatalf("after consent: %+v", e)
	}

	link, err := f.svc.IssueDownloadLink(ctx, coreMeta, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !link.ExpiresAt.Equal(coreStart.Add(8*time.Minute)) || link.Enrollment.State != enroll.StateProfileIssued {
		t.Fatalf("link = %+v", link)
	}
	f.clock.Advance(7 * time.Minute)
	prof, err := f.svc.DownloadProfile(ctx, coreMeta, link.Token)
	if err != nil {
		t.Fatal(err)
	}
	if prof.ContentType != "application/x-apple-aspen-config" {
		t.Errorf("content type %q", prof.ContentType)
	}
	p := coreParseProfile(t, prof.Data)
	m := p.MDM()
	if m.ManagedAppleID != "alice@appleid.example.com" || m.AccessRights != 0 || m.EnrollmentMode != "" || !m.SignMessage || !m.CheckOutWhenRemoved {
		t.Errorf("MDM payload = %+v", m)
	}
	scep := coreSCEP(t, p)
	if m.IdentityCertificateUUID != scep.PayloadUUID || scep.URL != "https://mdm.example.com/scep" || len(scep.Challenge) < 43 {
		t.Errorf("SCEP payload = %+v", scep)
	}

	// The link is single use.
	_, err = f.svc.DownloadProfile(ctx, coreMeta, link.Token)
	coreWantErr(t, "second download", err, enroll.ErrLinkUsed)

	// The SCEP server redeems the challenge once and reports the certificate.
	red, err := f.svc.RedeemChallenge(ctx, enroll.Meta{}, scep.Challenge)
	if err != nil || red.ID != e.ID {
		t.Fatalf("RedeemChallenge = %v, %v", red, err)
	}
	_, err = f.svc.RedeemChallenge(ctx, enroll.Meta{}, scep.Challenge)
	coreWantErr(t, "second redemption", err, enroll.ErrChallengeInvalid)
	cert := coreDeviceCert(t, e.ID)
	if _, err := f.svc.RecordCertificate(ctx, enroll.Meta{}, e.ID, cert); err != nil {
		t.Fatal(err)
	}

	// The device checks in, updates its token, later checks out.
	dev := coreDevice{f: f, cert: cert, enrollmentID: "UE-1111"}
	if err := dev.checkin(t, "Authenticate"); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if err := dev.checkin(t, "Authenticate"); err != nil {
		t.Fatalf("repeated Authenticate: %v", err)
	}
	if got := f.state(t, e.ID); got != enroll.StateCheckedIn {
		t.Fatalf("state after Authenticate = %s", got)
	}
	for range 2 {
		if err := dev.checkin(t, "TokenUpdate"); err != nil {
			t.Fatalf("TokenUpdate: %v", err)
		}
	}
	if got := f.state(t, e.ID); got != enroll.StateEnrolled {
		t.Fatalf("state after TokenUpdate = %s", got)
	}
	if err := dev.checkin(t, "Idle"); err != nil {
		t.Fatalf("command result: %v", err)
	}
	for range 2 {
		if err := dev.checkin(t, "CheckOut"); err != nil && f.state(t, e.ID) != enroll.StateRemoved {
			t.Fatalf("CheckOut: %v", err)
		}
	}
	if got := f.state(t, e.ID); got != enroll.StateRemoved {
		t.Fatalf("state after CheckOut = %s", got)
	}

	// The audit trail has one event per transition, consent with terms.
	trail, err := f.svc.Audit(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	var evs []string
	for _, a := range trail {
		evs = append(evs, string(a.Event))
		if a.Event == enroll.EventConsent {
			sum := sha256.Sum256([]byte(coreTerms.Text))
			if a.TermsVersion != coreTerms.Version || a.TermsDigest != strings.ToLower(string(hexString(sum[:]))) {
				t.Errorf("consent audit = %+v", a)
			}
			if a.ClientIP != coreMeta.ClientIP || a.UserAgent != coreMeta.UserAgent || a.Actor != "user:u-alice" {
				t.Errorf("consent audit meta = %+v", a)
			}
		}
		if a.Event == enroll.EventCheckIn && (a.ClientIP != "203.0.113.9" || a.UserAgent != "MDM/1.0" || a.Actor != "device") {
			t.Errorf("check-in audit = %+v", a)
		}
		if a.Time.IsZero() || a.EnrollmentID != e.ID {
			t.Errorf("audit event %+v", a)
		}
	}
	want := "invite authenticate passcode-accepted info-seen consent issue-profile download-profile redeem-challenge bind-certificate check-in token-update check-out"
	if strings.Join(evs, " ") != want {
		t.Fatalf("audit events:\n got %s\nwant %s", strings.Join(evs, " "), want)
	}
	if trail[0].Actor != "admin" || trail[0].From != "" || trail[0].To != enroll.StateInvited {
		t.Errorf("invite audit = %+v", trail[0])
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte(digits[c>>4])
		sb.WriteByte(digits[c&15])
	}
	return sb.String()
}

func (f *coreFixture) state(t testing.TB, id string) enroll.State {
	t.Helper()
	e, err := f.svc.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return e.State
}

func TestAccountDrivenFlow(t *testing.T) {
	f := newCoreFixture(t)
	ctx := context.Background()
	inv := f.invite(t, "bob")

	// Discovery: known user with an open invitation; others are refused.
	e, err := f.svc.LookupAccount(ctx, "Bob@AppleID.example.com")
	if err != nil || e.ID != inv.EnrollmentID {
		t.Fatalf("LookupAccount = %v, %v", e, err)
	}
	_, err = f.svc.LookupAccount(ctx, "mallory@appleid.example.com")
	coreWantErr(t, "unknown account", err, enroll.ErrUnknownUser)
	_, err = f.svc.LookupAccount(ctx, "alice@appleid.example.com")
	coreWantErr(t, "account without invitation", err, enroll.ErrNotFound)

	f.toConsented(t, inv, "bob", enroll.OwnershipEmployee)
	tok, err := f.svc.IssueAccessToken(ctx, coreMeta, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Enrollment.State != enroll.StateTokenIssued || tok.Enrollment.Flow != enroll.FlowAccountDriven || len(tok.Token) < 43 {
		t.Fatalf("token = %+v", tok)
	}
	// Still discoverable while the device has not fetched its profile.
	if _, err := f.svc.LookupAccount(ctx, "bob@appleid.example.com"); err != nil {
		t.Fatalf("LookupAccount after token: %v", err)
	}

	prof, err := f.svc.FetchProfile(ctx, coreMeta, tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	p := coreParseProfile(t, prof.Data)
	m := p.MDM()
	if m.EnrollmentMode != profile.ModeBYOD || m.AssignedManagedAppleID != "bob@appleid.example.com" || m.AccessRights != 0 || m.ManagedAppleID != "" {
		t.Fatalf("account-driven MDM payload = %+v", m)
	}
	_, err = f.svc.FetchProfile(ctx, coreMeta, "not-a-token")
	coreWantErr(t, "unknown token", err, enroll.ErrNotFound)

	// The device authenticates with its bearer token; no certificate was
	// recorded by the host's CA here, so the token alone ties it.
	dev := coreDevice{f: f, cert: coreDeviceCert(t, "device"), enrollmentID: "UE-2222", bearer: tok.Token}
	if err := dev.checkin(t, "Authenticate"); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if err := dev.checkin(t, "TokenUpdate"); err != nil {
		t.Fatalf("TokenUpdate: %v", err)
	}
	if got := f.state(t, e.ID); got != enroll.StateEnrolled {
		t.Fatalf("state = %s", got)
	}
	// Later requests need the token.
	noTok := dev
	noTok.bearer = ""
	coreWantReject(t, "request without token", noTok.checkin(t, "Idle"), 401)
	wrong := dev
	wrong.bearer = "wrong"
	coreWantReject(t, "request with a wrong token", wrong.checkin(t, "Idle"), 401)
	if err := dev.checkin(t, "Idle"); err != nil {
		t.Fatalf("request with token: %v", err)
	}

	// After revocation the token is dead.
	if _, err := f.svc.Revoke(ctx, enroll.Meta{}, e.ID, "device lost"); err != nil {
		t.Fatal(err)
	}
	coreWantReject(t, "request after revocation", dev.checkin(t, "Idle"), 403)
	_, err = f.svc.FetchProfile(ctx, coreMeta, tok.Token)
	coreWantErr(t, "replayed token after revocation", err, enroll.ErrRevoked)
	// Without an Unenroller nobody asks the device: the enrollment passes
	// through StateUnenrolling and ends at once.
	trail, err := f.svc.Audit(ctx, e.ID)
	if err != nil || len(trail) < 2 {
		t.Fatalf("audit = %+v, %v", trail, err)
	}
	for i, want := range []struct{ from, to enroll.State }{{enroll.StateEnrolled, enroll.StateUnenrolling}, {enroll.StateUnenrolling, enroll.StateRevoked}} {
		a := trail[len(trail)-2+i]
		if a.Event != enroll.EventRevoke || a.Detail != "device lost" || a.Actor != "host" || a.From != want.from || a.To != want.to {
			t.Fatalf("revoke audit %d = %+v, want %s → %s", i, a, want.from, want.to)
		}
	}
}

func TestInvitationExpiry(t *testing.T) {
	f := newCoreFixture(t)
	ctx := context.Background()
	inv := f.invite(t, "alice")
	f.clock.Advance(enroll.DefaultInvitationTTL)
	_, err := f.svc.OpenInvitation(ctx, coreMeta, inv.Token)
	coreWantErr(t, "expired invitation", err, enroll.ErrExpired)
	if got := f.state(t, inv.EnrollmentID); got != enroll.StateExpired {
		t.Fatalf("state = %s", got)
	}
	_, err = f.svc.Authenticate(ctx, coreMeta, inv.EnrollmentID, "alice", corePassword, enroll.OwnershipEmployee)
	coreWantErr(t, "sign-in on expired", err, enroll.ErrExpired)
	trail, _ := f.svc.Audit(ctx, inv.EnrollmentID)
	if n := len(trail); n != 2 || trail[1].Event != enroll.EventExpire || trail[1].Actor != "system" {
		t.Fatalf("audit after expiry = %+v", trail)
	}
}

func TestRevokedInvitation(t *testing.T) {
	f := newCoreFixture(t)
	ctx := context.Background()
	inv := f.invite(t, "alice")
	if _, err := f.svc.Revoke(ctx, enroll.Meta{Actor: "admin"}, inv.EnrollmentID, ""); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.OpenInvitation(ctx, coreMeta, inv.Token)
	coreWantErr(t, "revoked invitation", err, enroll.ErrRevoked)
	_, err = f.svc.Revoke(ctx, enroll.Meta{}, inv.EnrollmentID, "")
	coreWantErr(t, "revoking twice", err, enroll.ErrRevoked)
	_, err = f.svc.LookupAccount(ctx, "alice@appleid.example.com")
	coreWantErr(t, "lookup of revoked", err, enroll.ErrNotFound)
}

func TestWrongPasscodeUntilLocked(t *testing.T) {
	f := newCoreFixture(t)
	ctx := context.Background()
	inv := f.invite(t, "alice")
	id := inv.EnrollmentID
	_, err := f.svc.SubmitPasscode(ctx, coreMeta, id, inv.Passcode)
	coreWantErr(t, "passcode before sign-in", err, enroll.ErrInvalidTransition)
	if _, err := f.svc.Authenticate(ctx, coreMeta, id, "alice", corePassword, enroll.OwnershipEmployee); err != nil {
		t.Fatal(err)
	}
	for left := 4; left >= 0; left-- {
		_, err := f.svc.SubmitPasscode(ctx, coreMeta, id, "00000000x")
		var pe *enroll.PasscodeError
		if !errors.As(err, &pe) || pe.AttemptsLeft != left {
			t.Fatalf("wrong passcode: err = %v, want %d attempts left", err, left)
		}
	}
	if got := f.state(t, id); got != enroll.StateLocked {
		t.Fatalf("state = %s", got)
	}
	// Even the right passcode is refused now.
	_, err = f.svc.SubmitPasscode(ctx, coreMeta, id, inv.Passcode)
	coreWantErr(t, "right passcode when locked", err, enroll.ErrLocked)
	_, err = f.svc.OpenInvitation(ctx, coreMeta, inv.Token)
	coreWantErr(t, "open when locked", err, enroll.ErrLocked)
	// Locked can be revoked.
	if _, err := f.svc.Revoke(ctx, enroll.Meta{}, id, "locked out"); err != nil {
		t.Fatal(err)
	}
}

func TestDownloadLink(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (*coreFixture, *enroll.Enrollment) {
		f := newCoreFixture(t)
		inv := f.invite(t, "alice")
		return f, f.toConsented(t, inv, "alice", enroll.OwnershipEmployee)
	}
	t.Run("late", func(t *testing.T) {
		f, e := setup(t)
		link, err := f.svc.IssueDownloadLink(ctx, coreMeta, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(8 * time.Minute)
		_, err = f.svc.DownloadProfile(ctx, coreMeta, link.Token)
		coreWantErr(t, "download at 8 minutes", err, enroll.ErrLinkExpired)
		// A new link works and replaces the old one.
		link2, err := f.svc.IssueDownloadLink(ctx, coreMeta, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.DownloadProfile(ctx, coreMeta, link.Token)
		coreWantErr(t, "download with replaced link", err, enroll.ErrNotFound)
		if _, err := f.svc.DownloadProfile(ctx, coreMeta, link2.Token); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		f, _ := setup(t)
		for _, tok := range []string{"", "nope", strings.Repeat("x", 5000)} {
			_, err := f.svc.DownloadProfile(ctx, coreMeta, tok)
			coreWantErr(t, "unknown link", err, enroll.ErrNotFound)
		}
	})
	t.Run("configured TTL", func(t *testing.T) {
		f := newCoreFixture(t, func(c *enroll.Config) { c.DownloadTTL = time.Minute })
		inv := f.invite(t, "alice")
		e := f.toConsented(t, inv, "alice", enroll.OwnershipEmployee)
		link, err := f.svc.IssueDownloadLink(ctx, coreMeta, e.ID)
		if err != nil || !link.ExpiresAt.Equal(coreStart.Add(time.Minute)) {
			t.Fatalf("link = %+v, %v", link, err)
		}
	})
	t.Run("before consent", func(t *testing.T) {
		f := newCoreFixture(t)
		inv := f.invite(t, "alice")
		_, err := f.svc.IssueDownloadLink(ctx, coreMeta, inv.EnrollmentID)
		coreWantErr(t, "link before consent", err, enroll.ErrInvalidTransition)
		_, err = f.svc.IssueAccessToken(ctx, coreMeta, inv.EnrollmentID)
		coreWantErr(t, "token before consent", err, enroll.ErrInvalidTransition)
	})
	t.Run("revoked", func(t *testing.T) {
		f, e := setup(t)
		link, _ := f.svc.IssueDownloadLink(ctx, coreMeta, e.ID)
		f.svc.Revoke(ctx, enroll.Meta{}, e.ID, "")
		_, err := f.svc.DownloadProfile(ctx, coreMeta, link.Token)
		coreWantErr(t, "download after revoke", err, enroll.ErrRevoked)
	})
}

func TestConsent(t *testing.T) {
	ctx := context.Background()
	f := newCoreFixture(t)
	inv := f.invite(t, "alice")
	id := inv.EnrollmentID
	f.svc.Authenticate(ctx, coreMeta, id, "alice", corePassword, enroll.OwnershipEmployee)
	f.svc.SubmitPasscode(ctx, coreMeta, id, inv.Passcode)
	good := enroll.Consent{Version: coreTerms.Version, Digest: coreTerms.Digest()}

	_, err := f.svc.AcceptTerms(ctx, coreMeta, id, good)
	coreWantErr(t, "terms before info screen", err, enroll.ErrInfoNotSeen)
	if _, err := f.svc.AcknowledgeInfo(ctx, coreMeta, id); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		c    enroll.Consent
		want error
	}{
		{"old version", enroll.Consent{Version: "2025-01", Digest: coreTerms.Digest()}, enroll.ErrTermsMismatch},
		{"other text", enroll.Consent{Version: coreTerms.Version, Digest: enroll.TermsDigest("other text")}, enroll.ErrTermsMismatch},
		{"no version", enroll.Consent{Digest: coreTerms.Digest()}, enroll.ErrInvalidInput},
		{"bad digest", enroll.Consent{Version: coreTerms.Version, Digest: "abc"}, enroll.ErrInvalidInput},
	}
	for _, tt := range tests {
		_, err := f.svc.AcceptTerms(ctx, coreMeta, id, tt.c)
		coreWantErr(t, tt.name, err, tt.want)
	}
	if got := f.state(t, id); got != enroll.StatePasscodeVerified {
		t.Fatalf("refused consent changed state to %s", got)
	}
	// Consent not given: no link, no token.
	_, err = f.svc.IssueDownloadLink(ctx, coreMeta, id)
	coreWantErr(t, "link without consent", err, enroll.ErrInvalidTransition)
	if _, err := f.svc.AcceptTerms(ctx, coreMeta, id, enroll.Consent{Version: good.Version, Digest: strings.ToUpper(good.Digest)}); err != nil {
		t.Fatalf("upper-case digest: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, user, pass string
		o                enroll.Ownership
		policy           enroll.CorporatePolicy
		want             error
	}{
		{"wrong password", "alice", "nope", enroll.OwnershipEmployee, 0, enroll.ErrBadCredentials},
		{"unknown user", "mallory", corePassword, enroll.OwnershipEmployee, 0, enroll.ErrBadCredentials},
		{"another employee", "bob", corePassword, enroll.OwnershipEmployee, 0, enroll.ErrBadCredentials},
		{"corporate refused", "alice", corePassword, enroll.OwnershipCorporate, enroll.CorporateRefuse, enroll.ErrCorporateRefused},
		{"bad ownership", "alice", corePassword, "stolen", 0, enroll.ErrInvalidInput},
		{"empty username", "", corePassword, enroll.OwnershipEmployee, 0, enroll.ErrInvalidInput},
		{"empty password", "alice", "", enroll.OwnershipEmployee, 0, enroll.ErrInvalidInput},
		{"employee", "alice", corePassword, enroll.OwnershipEmployee, 0, nil},
		{"corporate allowed", "alice", corePassword, enroll.OwnershipCorporate, enroll.CorporateDeviceEnrollment, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newCoreFixture(t, func(c *enroll.Config) { c.Corporate = tt.policy })
			inv := f.invite(t, "alice")
			e, err := f.svc.Authenticate(ctx, coreMeta, inv.EnrollmentID, tt.user, tt.pass, tt.o)
			if tt.want != nil {
				coreWantErr(t, "Authenticate", err, tt.want)
				if got := f.state(t, inv.EnrollmentID); got != enroll.StateInvited {
					t.Fatalf("refused sign-in changed state to %s", got)
				}
				return
			}
			if err != nil || e.State != enroll.StateAuthenticated || e.Ownership != tt.o {
				t.Fatalf("Authenticate = %+v, %v", e, err)
			}
			// Signing in again (a lost portal session) keeps the enrollment
			// where it is.
			again, err := f.svc.Authenticate(ctx, coreMeta, inv.EnrollmentID, tt.user, tt.pass, tt.o)
			if err != nil || again.State != enroll.StateAuthenticated || again.Ownership != tt.o || again.Version != e.Version+1 {
				t.Fatalf("second sign-in = %+v, %v", again, err)
			}
		})
	}
	t.Run("authenticator failure", func(t *testing.T) {
		boom := errors.New("directory down")
		f := newCoreFixture(t, func(c *enroll.Config) {
			c.Authenticator = enroll.AuthenticatorFunc(func(context.Context, string, string) (enroll.User, error) { return enroll.User{}, boom })
		})
		inv := f.invite(t, "alice")
		_, err := f.svc.Authenticate(ctx, coreMeta, inv.EnrollmentID, "alice", corePassword, enroll.OwnershipEmployee)
		coreWantErr(t, "Authenticate", err, boom)
	})
	t.Run("unknown enrollment", func(t *testing.T) {
		f := newCoreFixture(t)
		_, err := f.svc.Authenticate(ctx, coreMeta, "nope", "alice", corePassword, enroll.OwnershipEmployee)
		coreWantErr(t, "Authenticate", err, enroll.ErrNotFound)
		_, err = f.svc.Authenticate(ctx, coreMeta, "", "alice", corePassword, enroll.OwnershipEmployee)
		coreWantErr(t, "Authenticate", err, enroll.ErrInvalidInput)
	})
}

func TestCorporateDevice(t *testing.T) {
	ctx := context.Background()
	f := newCoreFixture(t, func(c *enroll.Config) { c.Corporate = enroll.CorporateDeviceEnrollment })
	inv := f.invite(t, "alice")
	e := f.toConsented(t, inv, "alice", enroll.OwnershipCorporate)
	// Account-driven discovery announced BYOD: no token for a company device.
	_, err := f.svc.IssueAccessToken(ctx, coreMeta, e.ID)
	coreWantErr(t, "corporate access token", err, enroll.ErrCorporateRefused)
	link, err := f.svc.IssueDownloadLink(ctx, coreMeta, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	prof, err := f.svc.DownloadProfile(ctx, coreMeta, link.Token)
	if err != nil {
		t.Fatal(err)
	}
	m := coreParseProfile(t, prof.Data).MDM()
	if m.AccessRights != profile.AllRights || m.ManagedAppleID != "" {
		t.Fatalf("device enrollment MDM payload = %+v", m)
	}
}

func TestNotifierFailureRevokes(t *testing.T) {
	boom := errors.New("mail server down")
	f := newCoreFixture(t, func(c *enroll.Config) {
		c.Notifier = enroll.NotifierFunc(func(context.Context, *enroll.Invitation) error { return boom })
	})
	_, err := f.svc.CreateInvitation(context.Background(), enroll.Meta{}, coreUsers["alice"])
	coreWantErr(t, "CreateInvitation", err, boom)
	list, _ := f.svc.List(context.Background(), enroll.ListOptions{UserID: "u-alice"})
	if len(list) != 1 || list[0].State != enroll.StateRevoked {
		t.Fatalf("undelivered invitation left %+v", list)
	}
}

func TestCreateInvitationRejects(t *testing.T) {
	f := newCoreFixture(t)
	ctx := context.Background()
	_, err := f.svc.CreateInvitation(ctx, enroll.Meta{}, enroll.User{})
	coreWantErr(t, "empty user", err, enroll.ErrInvalidInput)
	_, err = f.svc.CreateInvitation(ctx, enroll.Meta{}, enroll.User{ID: "u-nobody"})
	coreWantErr(t, "user without Managed Apple Account", err, enroll.ErrUnknownUser)
	bad := newCoreFixture(t, func(c *enroll.Config) { c.Rand = io.LimitReader(bytes.NewReader(make([]byte, 64)), 16) })
	_, err = bad.svc.CreateInvitation(ctx, enroll.Meta{}, coreUsers["alice"])
	if err == nil {
		t.Fatal("CreateInvitation with exhausted randomness succeeded")
	}
	if n, _ := f.svc.List(ctx, enroll.ListOptions{}); len(n) != 0 {
		t.Fatalf("refused invitations stored %d enrollments", len(n))
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		edit func(*enroll.Config)
	}{
		{"no authenticator", func(c *enroll.Config) { c.Authenticator = nil }},
		{"no directory", func(c *enroll.Config) { c.Directory = nil }},
		{"no signer", func(c *enroll.Config) { c.Signer = nil }},
		{"no identity", func(c *enroll.Config) { c.SCEP = enroll.SCEPConfig{} }},
		{"identity and scep", func(c *enroll.Config) { c.Identity = &staleProvider{} }},
		{"negative passcode attempts", func(c *enroll.Config) { c.PasscodeAttempts = -1 }},
		{"no portal", func(c *enroll.Config) { c.PortalURL = "" }},
		{"relative portal", func(c *enroll.Config) { c.PortalURL = "/enroll" }},
		{"bad topic", func(c *enroll.Config) { c.Profile.Topic = "com.example" }},
		{"http server", func(c *enroll.Config) { c.Profile.ServerURL = "http://mdm.example.com" }},
		{"bad check-in URL", func(c *enroll.Config) { c.Profile.CheckInURL = "://" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := coreConfig()
			tt.edit(&cfg)
			if _, err := enroll.New(newCoreFixture(t).store, cfg); err == nil || !strings.HasPrefix(err.Error(), "enroll: ") {
				t.Fatalf("New = %v, want an enroll: error", err)
			}
		})
	}
	if _, err := enroll.New(nil, coreConfig()); err == nil {
		t.Fatal("New(nil store) succeeded")
	}
	cfg := coreConfig()
	cfg.PortalURL = ""
	cfg.InvitationURL = func(tok string) string { return "https://x.example/i?t=" + tok }
	cfg.Profile.ServerURL = "http://localhost:8080/mdm"
	cfg.Profile.AllowInsecureURLs = true
	if _, err := enroll.New(newCoreFixture(t).store, cfg); err != nil {
		t.Fatalf("New with InvitationURL and an insecure test URL: %v", err)
	}
}

func TestSweep(t *testing.T) {
	f := newCoreFixture(t)
	ctx := context.Background()
	old := f.invite(t, "alice")
	f.clock.Advance(time.Hour)
	fresh := f.invite(t, "bob")
	done := f.invite(t, "bob")
	f.svc.Revoke(ctx, enroll.Meta{}, done.EnrollmentID, "")

	f.clock.Advance(enroll.DefaultInvitationTTL - time.Hour)
	n, err := f.svc.Sweep(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	if f.state(t, old.EnrollmentID) != enroll.StateExpired || f.state(t, fresh.EnrollmentID) != enroll.StateInvited {
		t.Fatal("Sweep expired the wrong enrollments")
	}
	if n, _ := f.svc.Sweep(ctx); n != 0 {
		t.Fatalf("second Sweep expired %d", n)
	}
	f.clock.Advance(time.Hour)
	if n, _ := f.svc.Sweep(ctx); n != 1 {
		t.Fatalf("third Sweep expired %d, want 1", n)
	}
	if f.state(t, done.EnrollmentID) != enroll.StateRevoked {
		t.Fatal("Sweep touched a revoked enrollment")
	}

	// An issued profile gives the device CompletionTTL to finish.
	f2 := newCoreFixture(t)
	inv := f2.invite(t, "alice")
	e := f2.toConsented(t, inv, "alice", enroll.OwnershipEmployee)
	f2.clock.Advance(enroll.DefaultInvitationTTL - time.Minute)
	if _, err := f2.svc.IssueDownloadLink(ctx, coreMeta, e.ID); err != nil {
		t.Fatal(err)
	}
	f2.clock.Advance(time.Hour)
	if n, _ := f2.svc.Sweep(ctx); n != 0 {
		t.Fatalf("Sweep expired an enrollment within CompletionTTL")
	}
	f2.clock.Advance(enroll.DefaultCompletionTTL)
	if n, _ := f2.svc.Sweep(ctx); n != 1 {
		t.Fatalf("Sweep did not expire an enrollment past CompletionTTL")
	}
}

func TestQRCode(t *testing.T) {
	tests := []struct {
		link string
		size int
		ok   bool
	}{
		{"https://portal.example.com/enroll/invitation/abc", 0, true},
		{"https://portal.example.com/enroll/invitation/abc", 512, true},
		{"", 0, false},
		{"https://x", 10, false},
		{strings.Repeat("a", 3000), 0, false},
	}
	for _, tt := range tests {
		png1, err := enroll.QRCode(tt.link, tt.size)
		if tt.ok != (err == nil) {
			t.Fatalf("QRCode(%d bytes, %d): %v", len(tt.link), tt.size, err)
		}
		if err != nil {
			coreWantErr(t, "QRCode", err, enroll.ErrInvalidInput)
			continue
		}
		img, err := png.Decode(bytes.NewReader(png1))
		want := tt.size
		if want == 0 {
			want = enroll.DefaultQRSize
		}
		if err != nil || img.Bounds().Dx() != want || img.Bounds().Dy() != want {
			t.Fatalf("QR image: %v %v", img.Bounds(), err)
		}
	}
}

func TestServiceAccessors(t *testing.T) {
	f := newCoreFixture(t)
	ctx := context.Background()
	if f.svc.Store() != enroll.Store(f.store) || f.svc.Terms() != coreTerms {
		t.Fatal("Store or Terms accessor")
	}
	_, err := f.svc.Get(ctx, "nope")
	coreWantErr(t, "Get", err, enroll.ErrNotFound)
	_, err = f.svc.Audit(ctx, "nope")
	coreWantErr(t, "Audit", err, enroll.ErrNotFound)
	inv := f.invite(t, "alice")
	list, err := f.svc.List(ctx, enroll.ListOptions{States: []enroll.State{enroll.StateInvited}})
	if err != nil || len(list) != 1 || list[0].ID != inv.EnrollmentID {
		t.Fatalf("List = %v, %v", list, err)
	}
	var nilE *enroll.Enrollment
	if nilE.Clone() != nil {
		t.Fatal("Clone of nil")
	}
	if (&enroll.Enrollment{DeviceID: "d"}).Key("bogus") != "" {
		t.Fatal("Key of an unknown index")
	}
	_, err = f.svc.Revoke(ctx, enroll.Meta{}, inv.EnrollmentID, strings.Repeat("r", 2000))
	coreWantErr(t, "long reason", err, enroll.ErrInvalidInput)
	_, err = f.svc.SubmitPasscode(ctx, coreMeta, inv.EnrollmentID, strings.Repeat("1", 2000))
	coreWantErr(t, "long passcode", err, enroll.ErrInvalidInput)
	_, err = f.svc.LookupAccount(ctx, "")
	coreWantErr(t, "empty account", err, enroll.ErrInvalidInput)
}

func TestLookupAccountSkipsExpired(t *testing.T) {
	f := newCoreFixture(t)
	ctx := context.Background()
	old := f.invite(t, "bob")
	f.clock.Advance(enroll.DefaultInvitationTTL)
	_, err := f.svc.LookupAccount(ctx, "bob@appleid.example.com")
	coreWantErr(t, "only an expired invitation", err, enroll.ErrNotFound)
	if f.state(t, old.EnrollmentID) != enroll.StateExpired {
		t.Fatal("LookupAccount did not expire the stale invitation")
	}
	fresh := f.invite(t, "bob")
	if e, err := f.svc.LookupAccount(ctx, "bob@appleid.example.com"); err != nil || e.ID != fresh.EnrollmentID {
		t.Fatalf("LookupAccount = %v, %v", e, err)
	}
}

func TestSubmitPasscodeAfterLimitLowered(t *testing.T) {
	// A passcode with more failures on record than the policy now allows is
	// locked on the next attempt, right code or not.
	f := newCoreFixture(t)
	ctx := context.Background()
	inv := f.invite(t, "alice")
	f.svc.Authenticate(ctx, coreMeta, inv.EnrollmentID, "alice", corePassword, enroll.OwnershipEmployee)
	for range 3 {
		f.svc.SubmitPasscode(ctx, coreMeta, inv.EnrollmentID, "0")
	}
	cfg := f.cfg
	cfg.PasscodeAttempts = 2
	strict, err := enroll.New(f.store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = strict.SubmitPasscode(ctx, coreMeta, inv.EnrollmentID, inv.Passcode)
	coreWantErr(t, "over the lowered limit", err, enroll.ErrLocked)
	if f.state(t, inv.EnrollmentID) != enroll.StateLocked {
		t.Fatal("not locked")
	}
}

// coreFlakyStore wraps a Store: Update always conflicts when conflict is
// set, and List fails when listErr is set.
type coreFlakyStore struct {
	enroll.Store
	conflict bool
	listErr  error
}

func (s *coreFlakyStore) Update(ctx context.Context, e *enroll.Enrollment, v int64, evs ...enroll.AuditEvent) error {
	if s.conflict {
		return enroll.ErrVersionConflict
	}
	return s.Store.Update(ctx, e, v, evs...)
}

func (s *coreFlakyStore) List(ctx context.Context, o enroll.ListOptions) ([]*enroll.Enrollment, error) {
	if s.listErr != nil {
		return nil, s.listErr
	}
	return s.Store.List(ctx, o)
}

func TestStoreFailures(t *testing.T) {
	ctx := context.Background()
	f := newCoreFixture(t)
	inv := f.invite(t, "alice")
	flaky := &coreFlakyStore{Store: f.store, conflict: true, listErr: errors.New("disk on fire")}
	svc, err := enroll.New(flaky, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A step that never wins its compare-and-swap gives up with
	// ErrVersionConflict and leaves the enrollment as it was.
	_, err = svc.Authenticate(ctx, coreMeta, inv.EnrollmentID, "alice", corePassword, enroll.OwnershipEmployee)
	coreWantErr(t, "endless conflicts", err, enroll.ErrVersionConflict)
	if f.state(t, inv.EnrollmentID) != enroll.StateInvited {
		t.Fatal("state changed")
	}
	_, err = svc.Sweep(ctx)
	coreWantErr(t, "Sweep", err, flaky.listErr)
	_, err = svc.LookupAccount(ctx, "alice@appleid.example.com")
	coreWantErr(t, "LookupAccount", err, flaky.listErr)
	_, err = svc.List(ctx, enroll.ListOptions{})
	coreWantErr(t, "List", err, flaky.listErr)

	// A cancelled context stops a step before it touches the store.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = f.svc.AcknowledgeInfo(cctx, coreMeta, inv.EnrollmentID)
	coreWantErr(t, "cancelled", err, context.Canceled)

	// Expiry that keeps conflicting gives up too.
	f.clock.Advance(enroll.DefaultInvitationTTL)
	flaky.listErr = nil
	_, err = svc.Sweep(ctx)
	coreWantErr(t, "Sweep with endless conflicts", err, enroll.ErrVersionConflict)
}
