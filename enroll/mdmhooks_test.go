package enroll_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
)

// coreDevice stands in for package mdm calling the Service's hooks for a
// device: it builds the mdm.Request a verified check-in would give, calls
// Precheck, and on success Observe, as mdm.Service does.
type coreDevice struct {
	f            *coreFixture
	cert         []byte
	enrollmentID string
	bearer       string
	// udid, if set, names the device by UDID (a device enrollment)
	// instead of enrollmentID.
	udid string
	// rebind is what mdm.Request.Rebind says for an Authenticate.
	rebind bool
	// product is the ProductName of the device's Authenticate and of the
	// device record mdm keeps afterwards ("" for none).
	product string
	// user, if set, sends over the user channel EnrollmentID:user (a Mac's).
	user string
}

// checkin sends a check-in of the given MessageType, or a command result
// ("Idle").
func (d coreDevice) checkin(t testing.TB, messageType string) error {
	t.Helper()
	ctx := context.Background()
	hr := httptest.NewRequest(http.MethodPut, "https://mdm.example.com/checkin", nil)
	hr.RemoteAddr = "203.0.113.9:51234"
	hr.Header.Set("User-Agent", "MDM/1.0")
	if d.bearer != "" {
		hr.Header.Set("Authorization", "Bearer "+d.bearer)
	}
	cert, err := x509.ParseCertificate(d.cert)
	if err != nil {
		t.Fatal(err)
	}
	hdr := mdm.Header{MessageType: mdm.MessageType(messageType), Identifiers: mdm.Identifiers{EnrollmentID: d.enrollmentID}}
	ident := mdm.Channel{ID: mdm.EnrollmentID(d.enrollmentID), Type: mdm.UserEnrollmentDevice}
	if d.udid != "" {
		hdr.Identifiers = mdm.Identifiers{UDID: d.udid}
		ident = mdm.Channel{ID: mdm.EnrollmentID(d.udid), Type: mdm.Device}
	}
	if d.user != "" {
		hdr.Identifiers.EnrollmentUserID = d.user
		ident = mdm.Channel{ID: mdm.EnrollmentID(d.enrollmentID + ":" + d.user), Type: mdm.UserEnrollmentUser, ParentID: mdm.EnrollmentID(d.enrollmentID)}
	}
	r := &mdm.Request{HTTP: hr, Enrollment: ident, Certificate: cert, Fingerprint: mdm.FingerprintOf(d.cert), Rebind: d.rebind}
	var device *mdm.EnrollmentRecord
	if d.product != "" {
		device = &mdm.EnrollmentRecord{ID: mdm.EnrollmentID(d.enrollmentID), ProductName: d.product}
	}
	if messageType != "Authenticate" {
		r.Device = device
	}
	kind := mdm.EventKind(0)
	switch messageType {
	case "Authenticate":
		r.Message, kind = &mdm.Authenticate{Header: hdr, ProductName: d.product}, mdm.EventAuthenticate
	case "TokenUpdate":
		r.Message, kind = &mdm.TokenUpdate{Header: hdr, Token: []byte{1}, PushMagic: "magic"}, mdm.EventTokenUpdate
	case "CheckOut":
		r.Message, kind = &mdm.CheckOut{Header: hdr}, mdm.EventCheckOut
	default:
		r.Result, kind = &mdm.CommandResult{Identifiers: hdr.Identifiers, Status: mdm.Status(messageType)}, mdm.EventCommandResult
	}
	if err := d.f.svc.Precheck(ctx, r); err != nil {
		return err
	}
	return d.f.svc.Observe(ctx, &mdm.Event{Kind: kind, Enrollment: ident, Message: r.Message, Result: r.Result, Request: hr, Fingerprint: r.Fingerprint, Device: device})
}

// coreWantReject fails unless err is an *mdm.RejectError with the status.
func coreWantReject(t testing.TB, what string, err error, status int) {
	t.Helper()
	var re *mdm.RejectError
	if !errors.As(err, &re) || re.Status != status {
		t.Fatalf("%s: err = %v, want a %d *mdm.RejectError", what, err, status)
	}
}

// issued returns an enrollment of the user in ProfileIssued with its
// certificate recorded.
func (f *coreFixture) issued(t testing.TB, username string) (*enroll.Enrollment, []byte) {
	t.Helper()
	return f.issuedAs(t, username, enroll.OwnershipEmployee)
}

// issuedAs is issued for a device of ownership o.
func (f *coreFixture) issuedAs(t testing.TB, username string, o enroll.Ownership) (*enroll.Enrollment, []byte) {
	t.Helper()
	ctx := context.Background()
	inv := f.invite(t, username)
	e := f.toConsented(t, inv, username, o)
	if _, err := f.svc.IssueDownloadLink(ctx, coreMeta, e.ID); err != nil {
		t.Fatal(err)
	}
	cert := coreDeviceCert(t, e.ID)
	e, err := f.svc.RecordCertificate(ctx, enroll.Meta{}, e.ID, cert)
	if err != nil {
		t.Fatal(err)
	}
	return e, cert
}

func TestPrecheckRefuses(t *testing.T) {
	ctx := context.Background()
	t.Run("certificate of another enrollment", func(t *testing.T) {
		f := newCoreFixture(t)
		alice, aliceCert := f.issued(t, "alice")
		bob, _ := f.issued(t, "bob")
		// Bob's device presents Alice's certificate: it is Alice's enrollment
		// that the certificate names, so Bob's stays untouched; and once
		// Alice's device checked in, nobody else can with that certificate.
		if err := (coreDevice{f: f, cert: aliceCert, enrollmentID: "UE-A"}).checkin(t, "Authenticate"); err != nil {
			t.Fatal(err)
		}
		err := coreDevice{f: f, cert: aliceCert, enrollmentID: "UE-B"}.checkin(t, "Authenticate")
		coreWantReject(t, "second device with the same certificate", err, 403)
		coreWantErr(t, "second device", err, enroll.ErrDeviceMismatch)
		if f.state(t, alice.ID) != enroll.StateCheckedIn || f.state(t, bob.ID) != enroll.StateProfileIssued {
			t.Fatal("states changed")
		}
		// Recording Alice's certificate for Bob is refused.
		_, err = f.svc.RecordCertificate(ctx, enroll.Meta{}, bob.ID, aliceCert)
		coreWantErr(t, "binding a certificate twice", err, enroll.ErrDeviceMismatch)
	})
	t.Run("unknown certificate", func(t *testing.T) {
		f := newCoreFixture(t)
		f.issued(t, "alice")
		err := coreDevice{f: f, cert: coreDeviceCert(t, "stranger"), enrollmentID: "UE-X"}.checkin(t, "Authenticate")
		coreWantReject(t, "unknown certificate", err, 403)
	})
	t.Run("token and certificate disagree", func(t *testing.T) {
		f := newCoreFixture(t)
		_, aliceCert := f.issued(t, "alice")
		inv := f.invite(t, "bob")
		e := f.toConsented(t, inv, "bob", enroll.OwnershipEmployee)
		tok, err := f.svc.IssueAccessToken(ctx, coreMeta, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		err = coreDevice{f: f, cert: aliceCert, enrollmentID: "UE-B", bearer: tok.Token}.checkin(t, "Authenticate")
		coreWantReject(t, "mixed credentials", err, 403)
		err = coreDevice{f: f, cert: aliceCert, enrollmentID: "UE-B", bearer: "forged"}.checkin(t, "Authenticate")
		coreWantReject(t, "forged token", err, 401)
	})
	t.Run("account-driven certificate without token", func(t *testing.T) {
		f := newCoreFixture(t)
		inv := f.invite(t, "bob")
		e := f.toConsented(t, inv, "bob", enroll.OwnershipEmployee)
		if _, err := f.svc.IssueAccessToken(ctx, coreMeta, e.ID); err != nil {
			t.Fatal(err)
		}
		cert := coreDeviceCert(t, "bob")
		if _, err := f.svc.RecordCertificate(ctx, enroll.Meta{}, e.ID, cert); err != nil {
			t.Fatal(err)
		}
		err := coreDevice{f: f, cert: cert, enrollmentID: "UE-B"}.checkin(t, "Authenticate")
		coreWantReject(t, "account-driven without token", err, 401)
	})
	t.Run("revoked before check-in", func(t *testing.T) {
		f := newCoreFixture(t)
		e, cert := f.issued(t, "alice")
		f.svc.Revoke(ctx, enroll.Meta{}, e.ID, "")
		err := coreDevice{f: f, cert: cert, enrollmentID: "UE-A"}.checkin(t, "Authenticate")
		coreWantReject(t, "revoked", err, 403)
		coreWantErr(t, "revoked", err, enroll.ErrRevoked)
	})
	t.Run("unknown device", func(t *testing.T) {
		f := newCoreFixture(t)
		err := coreDevice{f: f, cert: coreDeviceCert(t, "x"), enrollmentID: "UE-NONE"}.checkin(t, "TokenUpdate")
		coreWantReject(t, "TokenUpdate from unknown device", err, 403)
	})
	t.Run("token update before check-in", func(t *testing.T) {
		f := newCoreFixture(t)
		e, cert := f.issued(t, "alice")
		// Observe ignores devices it does not know.
		err := f.svc.Observe(ctx, &mdm.Event{Kind: mdm.EventTokenUpdate, Enrollment: mdm.Channel{ID: "UE-A"}})
		if err != nil || f.state(t, e.ID) != enroll.StateProfileIssued {
			t.Fatalf("Observe of an unknown device: %v", err)
		}
		d := coreDevice{f: f, cert: cert, enrollmentID: "UE-A"}
		if err := d.checkin(t, "Authenticate"); err != nil {
			t.Fatal(err)
		}
		f.svc.Revoke(ctx, enroll.Meta{}, e.ID, "")
		coreWantReject(t, "TokenUpdate after revocation", d.checkin(t, "TokenUpdate"), 403)
		// An observer call for a revoked enrollment does not fail the device.
		if err := f.svc.Observe(ctx, &mdm.Event{Kind: mdm.EventTokenUpdate, Enrollment: mdm.Channel{ID: "UE-A"}}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRedeemChallengeRejects(t *testing.T) {
	ctx := context.Background()
	f := newCoreFixture(t)
	for _, c := range []string{"", "unknown"} {
		_, err := f.svc.RedeemChallenge(ctx, enroll.Meta{}, c)
		coreWantErr(t, "challenge "+c, err, enroll.ErrChallengeInvalid)
	}
	inv := f.invite(t, "alice")
	e := f.toConsented(t, inv, "alice", enroll.OwnershipEmployee)
	link, _ := f.svc.IssueDownloadLink(ctx, coreMeta, e.ID)
	prof, err := f.svc.DownloadProfile(ctx, coreMeta, link.Token)
	if err != nil {
		t.Fatal(err)
	}
	challenge := coreSCEP(t, coreParseProfile(t, prof.Data)).Challenge
	f.clock.Advance(enroll.DefaultChallengeTTL)
	_, err = f.svc.RedeemChallenge(ctx, enroll.Meta{}, challenge)
	coreWantErr(t, "expired challenge", err, enroll.ErrChallengeInvalid)

	_, err = f.svc.RecordCertificate(ctx, enroll.Meta{}, e.ID, []byte("not DER"))
	coreWantErr(t, "bad certificate", err, enroll.ErrInvalidInput)
}

// countingStore counts the reads and writes of the Store it wraps and can
// have another writer change an enrollment just before the next Update, as
// a second replica racing on it would.
type countingStore struct {
	enroll.Store
	gets, finds, updates int
	// race, if set, is run once before the next Update reaches the store.
	race func(ctx context.Context, id string)
}

func (c *countingStore) Get(ctx context.Context, id string) (*enroll.Enrollment, error) {
	c.gets++
	return c.Store.Get(ctx, id)
}

func (c *countingStore) Find(ctx context.Context, index enroll.Index, key string) (*enroll.Enrollment, error) {
	c.finds++
	return c.Store.Find(ctx, index, key)
}

func (c *countingStore) Update(ctx context.Context, e *enroll.Enrollment, expected int64, events ...enroll.AuditEvent) error {
	c.updates++
	if race := c.race; race != nil {
		c.race = nil
		race(ctx, e.ID)
	}
	return c.Store.Update(ctx, e, expected, events...)
}

// TestCheckinReads checks how often a device check-in reads and writes the
// enroll store: the hooks work on what they just read and read again only
// after a version conflict.
func TestCheckinReads(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// enrolled: the device already sent its first TokenUpdate.
		enrolled bool
		// race: another writer changes the enrollment between the hook's
		// read and its write.
		race                         bool
		message                      string
		gets, finds, updates, audits int
		want                         enroll.State
	}{
		{name: "first TokenUpdate", message: "TokenUpdate", finds: 2, updates: 1, audits: 1, want: enroll.StateEnrolled},
		{name: "first TokenUpdate after a conflict", message: "TokenUpdate", race: true,
			gets: 1, finds: 2, updates: 2, audits: 2, want: enroll.StateEnrolled},
		{name: "steady TokenUpdate", enrolled: true, message: "TokenUpdate", finds: 2, want: enroll.StateEnrolled},
		{name: "command result", enrolled: true, message: "Idle", finds: 1, want: enroll.StateEnrolled},
		{name: "repeated Authenticate", message: "Authenticate", finds: 1, want: enroll.StateCheckedIn},
		{name: "CheckOut", enrolled: true, message: "CheckOut", finds: 2, updates: 1, audits: 1, want: enroll.StateRemoved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newCoreFixture(t)
			e, cert := f.issued(t, "alice")
			dev := coreDevice{f: f, cert: cert, enrollmentID: "UE-READS"}
			if err := dev.checkin(t, "Authenticate"); err != nil {
				t.Fatal(err)
			}
			if tt.enrolled {
				if err := dev.checkin(t, "TokenUpdate"); err != nil {
					t.Fatal(err)
				}
			}
			cs := &countingStore{Store: f.store}
			if tt.race {
				cs.race = func(ctx context.Context, id string) {
					x, err := f.store.Get(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					x.UpdatedAt = x.UpdatedAt.Add(time.Second)
					if err := f.store.Update(ctx, x, x.Version, enroll.AuditEvent{EnrollmentID: id, Time: x.UpdatedAt,
						Event: enroll.EventBindCertificate, From: x.State, To: x.State, Actor: "host"}); err != nil {
						t.Fatal(err)
					}
				}
			}
			svc, err := enroll.New(cs, f.cfg)
			if err != nil {
				t.Fatal(err)
			}
			f.svc = svc
			before, err := f.store.Audit(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := dev.checkin(t, tt.message); err != nil {
				t.Fatal(err)
			}
			if cs.gets != tt.gets || cs.finds != tt.finds || cs.updates != tt.updates {
				t.Errorf("Get, Find, Update called %d, %d, %d times; want %d, %d, %d",
					cs.gets, cs.finds, cs.updates, tt.gets, tt.finds, tt.updates)
			}
			after, err := f.store.Audit(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(after) - len(before); got != tt.audits {
				t.Errorf("%d audit events added, want %d", got, tt.audits)
			}
			got, err := f.store.Get(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tt.want {
				t.Errorf("state %s, want %s", got.State, tt.want)
			}
		})
	}
}
