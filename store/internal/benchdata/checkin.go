package benchdata

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/profile"
)

// Hooks is what an enroll.Service is to package mdm: the Prechecker that
// vets a check-in before anything is stored and the Observer told after.
type Hooks interface {
	mdm.Prechecker
	mdm.Observer
}

// selfSigned returns a P-256 key and a certificate for it, signed by
// itself, named name.
func selfSigned(name string) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    Start.Add(-time.Hour),
		NotAfter:     Start.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

// NewService returns an enroll.Service over store configured as a host
// configures one, so that the benchmarks drive its real check-in hooks.
func NewService(store enroll.Store) (*enroll.Service, error) {
	key, cert, err := selfSigned("Example Corp profile signing")
	if err != nil {
		return nil, err
	}
	signer, err := profile.NewSigner(key, []*x509.Certificate{cert})
	if err != nil {
		return nil, err
	}
	return enroll.New(store, enroll.Config{
		Authenticator: enroll.AuthenticatorFunc(func(context.Context, string, string) (enroll.User, error) {
			return enroll.User{}, enroll.ErrBadCredentials
		}),
		Directory: directory{},
		PortalURL: "https://portal.example.com/enroll",
		Terms:     enroll.Terms{Version: "2026-01", Text: "Example Corp manages work data only."},
		Profile: enroll.ProfileConfig{
			ServerURL:    "https://mdm.example.com/mdm",
			CheckInURL:   "https://mdm.example.com/checkin",
			Topic:        topic,
			Organization: "Example Corp",
		},
		Signer: signer,
		SCEP:   enroll.SCEPConfig{URL: "https://mdm.example.com/scep"},
	})
}

// directory maps the seeded users to their Managed Apple Accounts.
type directory struct{}

func (directory) ManagedAppleID(_ context.Context, userID string) (string, error) {
	return userID + "@example.appleaccount.com", nil
}

func (directory) UserID(_ context.Context, managedAppleID string) (string, error) {
	user, ok := strings.CutSuffix(managedAppleID, "@example.appleaccount.com")
	if !ok {
		return "", enroll.ErrUnknownUser
	}
	return user, nil
}

// TokenUpdate makes device i's TokenUpdate check-in as package mdm's Service
// makes it for a device channel, with the store calls and hooks in the same
// order: the certificate binding and the device's record are read
// (Store.EnrollmentByCertificate, Store.Enrollment), the Prechecker vets the
// request, the record is stored with the new token (Store.PutEnrollment),
// and the Observer is told. round varies the token so that every call
// stores something new.
func TokenUpdate(ctx context.Context, ms mdm.Store, h Hooks, i, round int, now time.Time) error {
	fp, id := Fingerprint(i), DeviceID(i)
	token := Token(i)
	token[0] += byte(round)
	msg := &mdm.TokenUpdate{
		Header: mdm.Header{MessageType: mdm.MessageTokenUpdate, Topic: topic,
			Identifiers: mdm.Identifiers{EnrollmentID: string(id)}},
		Token:     token,
		PushMagic: hash("pushmagic", i)[:36],
	}
	e := mdm.Channel{ID: id, Type: mdm.UserEnrollmentDevice}
	hr := &http.Request{Method: http.MethodPut, Header: http.Header{"User-Agent": {mdmUA}, "Content-Type": {"application/x-apple-aspen-mdm-checkin"}},
		RemoteAddr: "198.51.100.7:52814", RequestURI: "/checkin"}

	bound, err := ms.EnrollmentByCertificate(ctx, fp)
	if err != nil {
		return fmt.Errorf("benchdata: certificate look-up: %w", err)
	}
	if bound != id {
		return fmt.Errorf("benchdata: certificate bound to %s, not %s", bound, id)
	}
	rec, err := ms.Enrollment(ctx, id)
	if err != nil {
		return fmt.Errorf("benchdata: record look-up: %w", err)
	}
	if rec.CheckedOut || rec.Certificate != fp {
		return errors.New("benchdata: record checked out or bound to another certificate")
	}
	req := &mdm.Request{HTTP: hr, Enrollment: e, Message: msg, Fingerprint: fp}
	if err := h.Precheck(ctx, req); err != nil {
		return fmt.Errorf("benchdata: precheck: %w", err)
	}
	rec = rec.Clone()
	rec.Topic = msg.Topic
	rec.Token, rec.PushMagic, rec.TokenDead, rec.Enrolled, rec.CheckedOut, rec.UpdatedAt = msg.Token, msg.PushMagic, false, true, false, now
	if err := ms.PutEnrollment(ctx, rec); err != nil {
		return fmt.Errorf("benchdata: store TokenUpdate: %w", err)
	}
	ev := &mdm.Event{Kind: mdm.EventTokenUpdate, Enrollment: e, Message: msg, Request: hr, Fingerprint: fp}
	if err := h.Observe(ctx, ev); err != nil {
		return fmt.Errorf("benchdata: observe: %w", err)
	}
	return nil
}

// CheckedIn puts device i's enrollment back to CheckedIn, as it stands
// between the device's Authenticate and its first TokenUpdate, so that the
// next TokenUpdate is a first one again.
func CheckedIn(ctx context.Context, es enroll.Store, i int, now time.Time) error {
	e, err := es.Get(ctx, ID(i))
	if err != nil {
		return err
	}
	from := e.State
	e.State, e.UpdatedAt = enroll.StateCheckedIn, now
	return es.Update(ctx, e, e.Version, enroll.AuditEvent{EnrollmentID: e.ID, Time: now, Event: enroll.EventCheckIn,
		From: from, To: enroll.StateCheckedIn, Actor: "device", ClientIP: "198.51.100.7", UserAgent: mdmUA})
}

// State returns device i's enrollment state.
func State(ctx context.Context, es enroll.Store, i int) (enroll.State, error) {
	e, err := es.Get(ctx, ID(i))
	if err != nil {
		return "", err
	}
	return e.State, nil
}
