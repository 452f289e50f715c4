package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/golang-jwt/jwt/v5"
)

// checkGetToken has the enrolled device ask for a com.apple.maid token, as
// iOS does when a Managed Apple Account signs in, and verifies it with a
// JWT library: signed by pub with alg, issued now by serverUUID, a UUID
// jti, service_type com.apple.maid; a second token has a new jti. A
// service type the server does not issue is refused with 400.
func checkGetToken(t *testing.T, d *devicesim.Device, pub crypto.PublicKey, alg, serverUUID string) {
	t.Helper()
	jtis := map[string]bool{}
	for range 2 {
		before := time.Now().Add(-time.Second)
		raw, err := d.GetToken(t.Context(), mdm.TokenServiceMAID)
		if err != nil {
			t.Fatalf("GetToken: %v", err)
		}
		claims := jwt.MapClaims{}
		tok, err := jwt.ParseWithClaims(string(raw), claims, func(*jwt.Token) (any, error) { return pub, nil },
			jwt.WithValidMethods([]string{alg}), jwt.WithIssuer(serverUUID), jwt.WithIssuedAt(), jwt.WithLeeway(time.Second))
		if err != nil || !tok.Valid {
			t.Fatalf("token %s does not verify: %v", raw, err)
		}
		iat, err := claims.GetIssuedAt()
		if err != nil || iat == nil || iat.Before(before.Truncate(time.Second)) {
			t.Errorf("iat %v (%v), want now", iat, err)
		}
		jti, _ := claims["jti"].(string)
		if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(jti) || jtis[jti] {
			t.Errorf("jti %q: want a new random UUID", jti)
		}
		jtis[jti] = true
		if claims["service_type"] != mdm.TokenServiceMAID || len(claims) != 4 {
			t.Errorf("claims %v, want exactly iss, iat, jti and service_type %s", claims, mdm.TokenServiceMAID)
		}
		// The same token is refused under any other key.
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if _, err := jwt.Parse(string(raw), func(*jwt.Token) (any, error) { return &other.PublicKey, nil }); err == nil {
			t.Fatal("the token verified under another key")
		}
	}
	var he *devicesim.HTTPError
	if _, err := d.GetToken(t.Context(), "com.apple.watch.pairing"); !errors.As(err, &he) || he.StatusCode != http.StatusBadRequest {
		t.Fatalf("GetToken com.apple.watch.pairing: %v, want 400", err)
	}
}

// TestGetTokenWithABMKey runs the server with an MDM server key and UUID
// as Apple Business Manager knows them: an RSA key (what registration
// takes) and a P-256 key, each verified by the JWT library.
func TestGetTokenWithABMKey(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		key  crypto.Signer
		alg  string
	}{
		{"RSA", rsaKey, "RS256"},
		{"P-256", ecKey, "ES256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			der, err := x509.MarshalPKCS8PrivateKey(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			keyFile := filepath.Join(t.TempDir(), "abm.key")
			if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
				t.Fatal(err)
			}
			const serverUUID = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
			ts := startServer(t, "-abm-key", keyFile, "-abm-server-uuid", serverUUID)
			if ts.st.abmDev {
				t.Fatal("the development key signs despite -abm-key")
			}
			if _, err := os.Stat(ts.st.pki.Path(abmKeyFile)); err == nil {
				t.Error("a development key was made despite -abm-key")
			}
			var inv invitationOut
			if code := ts.admin(t, "POST", "/invitations", map[string]string{"user": "alice"}, &inv); code != http.StatusCreated {
				t.Fatalf("invite: %d", code)
			}
			d := ts.newDevice(t)
			if err := d.EnrollWithInvitation(t.Context(), inv.URL, devicesim.Credentials{Username: "alice", Password: "correct horse", Passcode: inv.Passcode}); err != nil {
				t.Fatal(err)
			}
			checkGetToken(t, d, tt.key.Public(), tt.alg, serverUUID)
			if strings.Contains(ts.log.String(), "eyJ") {
				t.Error("a token reached the log")
			}
		})
	}
}

func TestABMFlags(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string // in the error; "" means accepted
	}{
		{"key without UUID", []string{"-abm-key", "k.pem"}, "-abm-server-uuid"},
		{"UUID alone (the development key, registered)", []string{"-abm-server-uuid", "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parseFlags(tt.args, io.Discard)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("parseFlags(%q) = %v, want %q", tt.args, err, tt.want)
			}
		})
	}
	// A server UUID that is not one is refused at start.
	cfg, _, err := parseFlags([]string{"-data", t.TempDir(), "-abm-server-uuid", "not-a-uuid"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := newStack(t.Context(), cfg, nil, slog.New(slog.DiscardHandler)); err == nil {
		st.Close()
		t.Fatal("newStack accepted a malformed -abm-server-uuid")
	}
}

// TestDevelopmentABMKeyPersists: without -abm-key the server keeps one
// development key, with the certificate to register it, and one server
// UUID across restarts.
func TestDevelopmentABMKeyPersists(t *testing.T) {
	cfg, _, err := parseFlags([]string{"-data", t.TempDir()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var keys []crypto.PublicKey
	var uuids []string
	for range 2 {
		st, err := newStack(t.Context(), cfg, nil, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		if !st.abmDev || st.maid.Algorithm() != "RS256" {
			t.Fatalf("development key: dev %v, alg %s", st.abmDev, st.maid.Algorithm())
		}
		keys, uuids = append(keys, st.abmKey.Public()), append(uuids, st.abmUUID)
		b, err := os.ReadFile(st.pki.Path(abmCertFile))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil || !cert.PublicKey.(*rsa.PublicKey).Equal(st.abmKey.Public()) {
			t.Fatalf("%s does not certify the key: %v", abmCertFile, err)
		}
	}
	if !keys[0].(*rsa.PublicKey).Equal(keys[1]) || uuids[0] != uuids[1] {
		t.Fatalf("a restart changed the key or the server UUID (%s, %s)", uuids[0], uuids[1])
	}
}
