package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/profile"
	"github.com/enrollkit/enrollkit/scep"
	"github.com/enrollkit/enrollkit/server"
	"github.com/enrollkit/enrollkit/store/memory"
)

type directory struct{}

func (directory) ManagedAppleID(context.Context, string) (string, error) {
	return "", enroll.ErrUnknownUser
}
func (directory) UserID(context.Context, string) (string, error) { return "", enroll.ErrUnknownUser }

func validConfig(t *testing.T, ca *scep.CA) server.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	signer, err := profile.NewSigner(key, []*x509.Certificate{cert})
	if err != nil {
		t.Fatal(err)
	}
	return server.Config{
		PublicURL: "https://enroll.example.com",
		Enroll: enroll.Config{
			Authenticator: enroll.AuthenticatorFunc(nil),
			Directory:     directory{},
			Profile:       enroll.ProfileConfig{Topic: "com.apple.mgmt.External.0f3a9c52-1b7e-4d1e-9c55-2a1b3c4d5e6f"},
			Signer:        signer,
		},
		Portal: enroll.PortalConfig{SessionKey: make([]byte, 32)},
		CA:     ca,
	}
}

// TestNew checks that the composition refuses configuration that would
// contradict it, and derives every URL from PublicURL.
func TestNew(t *testing.T) {
	ca, err := scep.GenerateCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		edit func(*server.Config)
	}{
		{"no public url", func(c *server.Config) { c.PublicURL = "" }},
		{"public url with path", func(c *server.Config) { c.PublicURL = "https://enroll.example.com/x" }},
		{"relative public url", func(c *server.Config) { c.PublicURL = "/x" }},
		{"no ca", func(c *server.Config) { c.CA = nil }},
		{"own portal url", func(c *server.Config) { c.Enroll.PortalURL = "https://other.example.com/portal/" }},
		{"own server url", func(c *server.Config) { c.Enroll.Profile.ServerURL = "https://other.example.com/mdm" }},
		{"own scep url", func(c *server.Config) { c.Enroll.SCEP.URL = "https://other.example.com/scep" }},
		{"no prechecker", func(c *server.Config) { c.MDM.Prechecker = mdm.NoPrechecker }},
		{"no session key", func(c *server.Config) { c.Portal.SessionKey = nil }},
		{"no authenticator", func(c *server.Config) { c.Enroll.Authenticator = nil }},
		{"token capability, nothing answers GetToken", func(c *server.Config) {
			c.Enroll.Profile.ServerCapabilities = []string{profile.CapabilityToken}
		}},
		{"own ddm next", func(c *server.Config) {
			c.Declarations = memory.NewDDMStore()
			c.DDM.Next = mdm.ResponderFunc(func(context.Context, *mdm.Request) ([]byte, error) { return nil, nil })
		}},
		{"own acme directory", func(c *server.Config) {
			c.ACME.Enabled, c.Enroll.ACME.DirectoryURL = true, "https://other.example.com/acme/directory"
		}},
		{"own acme base url", func(c *server.Config) { c.ACME.Enabled, c.ACME.BaseURL = true, "https://other.example.com/acme" }},
		{"acme and own identity", func(c *server.Config) {
			c.ACME.Enabled, c.Enroll.Identity = true, &enroll.SCEPChallenges{}
		}},
		{"acme settings, acme off", func(c *server.Config) { c.Enroll.ACME.SCEPFallback = true }},
		{"own acme credential directory", func(c *server.Config) {
			c.ACME.Enabled, c.Declarations = true, memory.NewDDMStore()
			c.ACME.Credentials.DirectoryURL = "https://other.example.com/acme-credential/directory"
		}},
		{"own ddm acme credentials", func(c *server.Config) {
			c.ACME.Enabled, c.Declarations = true, memory.NewDDMStore()
			c.DDM.ACMECredentials = ddm.AssetSourceFunc(func(context.Context, mdm.EnrollmentID, string) ([]byte, string, error) { return nil, "", nil })
		}},
		{"acme credential settings, no declarations", func(c *server.Config) {
			c.ACME.Enabled, c.ACME.Credentials.KeySize = true, 256
		}},
		{"acme credential key size", func(c *server.Config) {
			c.ACME.Enabled, c.Declarations, c.ACME.Credentials.KeySize = true, memory.NewDDMStore(), 521
		}},
		{"roots and skip", func(c *server.Config) {
			c.Portal.DeviceRoots, c.Portal.InsecureSkipDeviceChainCheck = x509.NewCertPool(), true
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig(t, ca)
			tt.edit(&cfg)
			if _, err := server.New(memory.NewEnrollStore(), memory.NewMDMStore(), cfg); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
	if _, err := server.New(nil, memory.NewMDMStore(), validConfig(t, ca)); err == nil || !strings.HasPrefix(err.Error(), "server: ") {
		t.Fatalf("nil store: %v", err)
	}
	host := mdm.PrecheckFunc(func(context.Context, *mdm.Request) error { return nil })
	cfg := validConfig(t, ca)
	cfg.MDM.Prechecker = host
	cfg.MDM.Observer = mdm.ObserverFunc(func(context.Context, *mdm.Event) error { return nil })
	s, err := server.New(memory.NewEnrollStore(), memory.NewMDMStore(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.DDM != nil {
		t.Error("declarative management on without a store")
	}
	if s.ACME != nil {
		t.Error("ACME on without Config.ACME.Enabled")
	}
	acfg := validConfig(t, ca)
	acfg.ACME.Enabled = true
	as, err := server.New(memory.NewEnrollStore(), memory.NewMDMStore(), acfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := as.ACME.DirectoryURL(); got != "https://enroll.example.com/acme/directory" {
		t.Errorf("ACME directory %q", got)
	}
	if as.ACMECredentials != nil {
		t.Error("ACME credentials on without declarative management")
	}
	acfg.Declarations = memory.NewDDMStore()
	if as, err = server.New(memory.NewEnrollStore(), memory.NewMDMStore(), acfg); err != nil {
		t.Fatal(err)
	}
	if got := as.ACMECredentials.DirectoryURL(); got != "https://enroll.example.com/acme-credential/directory" {
		t.Errorf("ACME credential directory %q", got)
	}
	if d := as.ACMECredentialAsset("id"); d.Type != ddm.CredentialACMEType || !strings.Contains(string(d.Payload), `"https://enroll.example.com/mdm/assets/id"`) {
		t.Errorf("ACMECredentialAsset: %s %s", d.Type, d.Payload)
	}
	cfg.Declarations = memory.NewDDMStore()
	if s, err = server.New(memory.NewEnrollStore(), memory.NewMDMStore(), cfg); err != nil || s.DDM == nil {
		t.Fatalf("with a ddm store: %v", err)
	}
	if got := s.AssetURL("mail password"); got != "https://enroll.example.com/mdm/assets/mail%20password" {
		t.Errorf("AssetURL %q", got)
	}
	if s.Portal.BaseURL() != "https://enroll.example.com/portal/account/enroll" {
		t.Errorf("BaseURL %q", s.Portal.BaseURL())
	}
	if got := s.Portal.InvitationURL("tok"); got != "https://enroll.example.com/portal/invitation/tok" {
		t.Errorf("InvitationURL %q", got)
	}
}
