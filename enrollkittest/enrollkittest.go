// Package enrollkittest runs a whole enrollkit server in-process for a
// host's integration tests, as net/http/httptest runs an HTTP server:
// NewServer starts package server's composition on an httptest TLS server
// with memory stores, a development CA for SCEP (or, with Options.ACME,
// attested ACME identities under a test attestation root) and profile
// signing, the
// portal and account-driven endpoints, the MDM service, declarative device
// management (package ddm), and an APNs stand-in
// (devicesim.PushServer) that the real apns client pushes to over HTTP/2.
// The host plugs in its own Authenticator and Directory, or uses the demo
// user; NewDevice returns a simulated iPhone (package devicesim) that
// trusts the server, and Invite creates an invitation.
package enrollkittest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/acme/acmetest"
	"github.com/enrollkit/enrollkit/apns"
	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/passcode"
	"github.com/enrollkit/enrollkit/profile"
	"github.com/enrollkit/enrollkit/scep"
	"github.com/enrollkit/enrollkit/server"
	"github.com/enrollkit/enrollkit/store/memory"
)

// The demo user, who signs in when Options.Authenticator and
// Options.Directory are nil.
const (
	// DemoUserID is the demo user's ID in the host's terms.
	DemoUserID = "u-demo"
	// DemoUsername and DemoPassword are the demo user's corporate
	// credentials.
	DemoUsername = "alice"
	DemoPassword = "correct horse"
	// DemoManagedAppleID is the demo user's Managed Apple Account, the account
	// an account-driven enrollment starts from.
	DemoManagedAppleID = "alice@example.com"
)

// DemoUser is the demo user as Invite takes it.
var DemoUser = enroll.User{ID: DemoUserID, Name: "Alice"}

// Topic is the push topic of the Server's push certificate.
const Topic = "com.apple.mgmt.External.00000000-0000-4000-8000-00000000e4c1"

// Options configures a Server. The zero value of every field has a
// documented default.
type Options struct {
	// Authenticator checks corporate credentials; nil accepts the demo
	// user (DemoUsername, DemoPassword) only.
	Authenticator enroll.Authenticator
	// Directory maps users to Managed Apple Accounts; nil knows the demo user
	// (DemoUserID ↔ DemoManagedAppleID) only.
	Directory enroll.Directory
	// Logger receives every part's logs; nil discards them.
	Logger *slog.Logger
	// Tokens answers GetToken check-ins (server.Config.Tokens), such as an
	// mdm.MAIDIssuer under mdm.TokenServiceMAID; nil leaves GetToken
	// unanswered, and the profiles do not announce it.
	Tokens mdm.Tokens
	// Assets holds the data of declarative management assets served at
	// Server.AssetURL; nil serves none.
	Assets ddm.AssetSource
	// Now is the clock of the enrollment, MDM and declarative management
	// services, so that a test can move time past a lease, a deadline or
	// an expiry; nil is time.Now.
	Now func() time.Time
	// ACME enrolls devices with hardware-bound, attested identities over
	// ACME (server.Config.ACME) instead of SCEP: the server trusts
	// Server.AttestationRoot, a test root standing in for Apple's
	// Enterprise Attestation Root CA, and devices from NewDevice attest
	// under it. False enrolls with SCEP.
	ACME bool
	// ACMEIdentity configures the ACME payload when ACME is set
	// (enroll.Config.ACME: KeySize, SCEPFallback, …); its DirectoryURL
	// derives from the server and must be left empty.
	ACMEIdentity enroll.ACMEConfig
	// ACMECredentials configures declarative management's ACME
	// credentials when ACME is set (server.Config.ACME.Credentials: TTL,
	// KeySize, Subject, …): an asset declaration from
	// Server.ACMECredentialAsset gives each device an attested credential
	// from the server's second ACME endpoint. Its DirectoryURL derives
	// from the server and must be left empty.
	ACMECredentials acme.CredentialsConfig
}

// Server is a running enrollkit server. Its embedded *server.Server gives
// the parts (Enroll, Portal, MDM, SCEP); the rest is what a simulated
// device needs to trust it.
type Server struct {
	*server.Server
	// URL is the server's base URL (https://127.0.0.1:port): the invitation
	// links, the portal, MDM and SCEP are below it, and it is the
	// account-driven discovery domain.
	URL string
	// HTTP is the httptest server.
	HTTP *httptest.Server
	// ProfileRoots verifies the signature of the profiles served.
	ProfileRoots *x509.CertPool
	// CA is the development CA that issues device identities over SCEP (and
	// ACME, with Options.ACME).
	CA *scep.CA
	// DeviceCA stands in for Apple's device CA: account-driven requests
	// must be signed under it, as devices from NewDevice sign them.
	DeviceCA *devicesim.DeviceCA
	// Push is the APNs stand-in the server pushes to; devices from
	// NewDevice are registered with it.
	Push *devicesim.PushServer
	// AttestationRoot stands in for Apple's Enterprise Attestation Root
	// CA: with Options.ACME the server's ACME endpoint trusts it alone,
	// and devices from NewDevice attest their keys under it. It is made
	// in every case, so that a test can also enroll a device attesting
	// under another root.
	AttestationRoot *acmetest.Root

	closers []func()
}

// Close stops the server, the APNs stand-in and the push client. NewServer
// has the test call it when it ends; calling it again does nothing.
func (s *Server) Close() {
	for len(s.closers) > 0 {
		f := s.closers[len(s.closers)-1]
		s.closers = s.closers[:len(s.closers)-1]
		f()
	}
}

// NewServer starts a Server for the test and closes it when the test ends.
// It fails the test when a part cannot be started.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{Push: &devicesim.PushServer{}}
	t.Cleanup(s.Close)
	var err error
	if s.CA, err = scep.GenerateCA("enrollkittest Device Identity CA"); err != nil {
		t.Fatal(err)
	}
	if s.DeviceCA, err = devicesim.NewDeviceCA(); err != nil {
		t.Fatal(err)
	}
	if s.AttestationRoot, err = acmetest.NewRoot("enrollkittest Attestation Root CA"); err != nil {
		t.Fatal(err)
	}
	signing := newCertKey(t, "enrollkittest Profile Signing CA", nil)
	signer := newCertKey(t, "enrollkittest Profile Signer", signing)
	s.ProfileRoots = x509.NewCertPool()
	s.ProfileRoots.AddCert(signing.cert)
	ps, err := profile.NewSigner(signer.key, []*x509.Certificate{signer.cert, signing.cert})
	if err != nil {
		t.Fatal(err)
	}

	apnsSrv := httptest.NewUnstartedServer(s.Push)
	apnsSrv.EnableHTTP2 = true
	apnsSrv.StartTLS()
	s.closers = append(s.closers, apnsSrv.Close)
	apnsRoots := x509.NewCertPool()
	apnsRoots.AddCert(apnsSrv.Certificate())
	pusher, err := apns.New(pushCertificate(t, signing), apns.Options{BaseURL: apnsSrv.URL, RootCAs: apnsRoots, MaxAttempts: 1, Logger: opts.Logger})
	if err != nil {
		t.Fatal(err)
	}
	s.closers = append(s.closers, func() { pusher.Close() })

	var h http.Handler = http.NotFoundHandler()
	s.HTTP = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	s.HTTP.StartTLS()
	s.closers = append(s.closers, s.HTTP.Close)
	s.URL = s.HTTP.URL

	auth, dir := opts.Authenticator, opts.Directory
	if auth == nil {
		auth = enroll.AuthenticatorFunc(demoAuthenticate)
	}
	if dir == nil {
		dir = demoDirectory{}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var acmeCfg server.ACMEConfig
	if opts.ACME {
		acmeCfg.Enabled = true
		acmeCfg.AttestationRoots = s.AttestationRoot.Pool()
		acmeCfg.Logger = logger.With("component", "acme")
		acmeCfg.Now = opts.Now
		acmeCfg.Credentials = opts.ACMECredentials
	}
	fp := sha256.Sum256(s.CA.Certificate.Raw)
	s.Server, err = server.New(memory.NewEnrollStore(), memory.NewMDMStore(), server.Config{
		PublicURL: s.URL,
		Enroll: enroll.Config{
			Authenticator: auth,
			Directory:     dir,
			Profile:       enroll.ProfileConfig{Topic: Topic, Organization: "enrollkittest"},
			Signer:        ps,
			SCEP:          enroll.SCEPConfig{CAFingerprint: fp[:]},
			ACME:          opts.ACMEIdentity,
			// Cheap hashing parameters keep tests fast.
			PasscodeParams: passcode.Params{Memory: 64, Iterations: 1},
			Logger:         logger.With("component", "enroll"),
			Now:            opts.Now,
		},
		Portal: enroll.PortalConfig{
			SessionKey:   []byte("enrollkittest session key, 32 bytes or more"),
			Organization: "enrollkittest",
			DeviceRoots:  s.DeviceCA.Pool(),
			Logger:       logger.With("component", "portal"),
		},
		CA:     s.CA,
		SCEP:   scep.Config{Logger: logger.With("component", "scep")},
		ACME:   acmeCfg,
		MDM:    mdm.Config{Pusher: pusher, Logger: logger.With("component", "mdm"), Now: opts.Now},
		Tokens: opts.Tokens,
		// Declarative management, with the default status subscription.
		Declarations: memory.NewDDMStore(),
		DDM:          ddm.Config{Assets: opts.Assets, Logger: logger.With("component", "ddm"), Now: opts.Now},
	})
	if err != nil {
		t.Fatal(err)
	}
	h = s.Server
	return s
}

// Client returns an HTTP client that trusts the server's TLS certificate.
func (s *Server) Client() *http.Client { return s.HTTP.Client() }

// Invite creates an invitation for u (DemoUser with the default
// Directory) and returns it with its secrets: the link (Invitation.URL) and
// the passcode.
func (s *Server) Invite(t testing.TB, u enroll.User) *enroll.Invitation {
	t.Helper()
	inv, err := s.Enroll.CreateInvitation(context.Background(), enroll.Meta{Actor: "enrollkittest"}, u)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// NewDevice returns a simulated iPhone that trusts the server (its TLS
// certificate and profile signer), signs account-driven requests under
// DeviceCA, attests ACME identities under AttestationRoot, and is woken by
// the server's pushes.
func (s *Server) NewDevice(t testing.TB) *devicesim.Device {
	t.Helper()
	return s.NewDeviceWith(t, devicesim.Options{})
}

// NewDeviceWith is NewDevice for a device configured by opts, such as a Mac
// (opts.ProductName "Mac14,2", opts.OSVersion "15.1"). Its HTTPClient,
// ProfileRoots and DeviceCA are replaced by the server's, and a nil
// AttestationRoot by the server's.
func (s *Server) NewDeviceWith(t testing.TB, opts devicesim.Options) *devicesim.Device {
	t.Helper()
	opts.HTTPClient, opts.ProfileRoots, opts.DeviceCA = s.Client(), s.ProfileRoots, s.DeviceCA
	if opts.AttestationRoot == nil {
		opts.AttestationRoot = s.AttestationRoot
	}
	d, err := devicesim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Push.Add(d)
	return d
}

// DemoCredentials returns what the demo user types for inv.
func DemoCredentials(inv *enroll.Invitation) devicesim.Credentials {
	return devicesim.Credentials{Username: DemoUsername, Password: DemoPassword, Passcode: inv.Passcode}
}

func demoAuthenticate(_ context.Context, username, password string) (enroll.User, error) {
	if username == DemoUsername && password == DemoPassword {
		return DemoUser, nil
	}
	return enroll.User{}, enroll.ErrBadCredentials
}

type demoDirectory struct{}

func (demoDirectory) ManagedAppleID(_ context.Context, userID string) (string, error) {
	if userID == DemoUserID {
		return DemoManagedAppleID, nil
	}
	return "", enroll.ErrUnknownUser
}

func (demoDirectory) UserID(_ context.Context, managedAppleID string) (string, error) {
	if strings.EqualFold(managedAppleID, DemoManagedAppleID) {
		return DemoUserID, nil
	}
	return "", enroll.ErrUnknownUser
}

// certKey is a certificate and its key.
type certKey struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// newCertKey issues an ECDSA certificate named cn: a CA when parent is nil
// (self-signed), a leaf under parent otherwise.
func newCertKey(t testing.TB, cn string, parent *certKey) *certKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}}, key, parent)
}

// issue fills in tmpl's serial, validity and usage and signs it with
// parent (self-signed, as a CA, when parent is nil).
func issue(t testing.TB, tmpl *x509.Certificate, key crypto.Signer, parent *certKey) *certKey {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	issuer, signer := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		issuer, signer = parent.cert, parent.key
		if tmpl.KeyUsage == 0 {
			tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &certKey{cert: cert, key: key}
}

// uidOID is the subject attribute an MDM push certificate carries its topic
// in.
var uidOID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}

// pushCertificate returns an MDM push certificate for Topic.
func pushCertificate(t testing.TB, parent *certKey) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ck := issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "APSP:enrollkittest", ExtraNames: []pkix.AttributeTypeAndValue{{Type: uidOID, Value: Topic}}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, key, parent)
	return tls.Certificate{Certificate: [][]byte{ck.cert.Raw}, PrivateKey: key, Leaf: ck.cert}
}
