package mdm_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
	"howett.net/plist"
)

const serverUUID = "677cd2d8-c5a5-4d8b-9f0a-3b1e4f6a7c2d"

func getToken(eid, service string) []byte {
	return plistDoc(`<key>EnrollmentID</key><string>` + eid + `</string><key>MessageType</key><string>GetToken</string>` +
		`<key>TokenServiceType</key><string>` + service + `</string>`)
}

// countingIssuer counts the tokens issuer hands out.
func countingIssuer(issuer mdm.TokenIssuer, n *atomic.Int64) mdm.TokenIssuer {
	return mdm.TokenIssuerFunc(func(ctx context.Context, r *mdm.Request) ([]byte, error) {
		n.Add(1)
		return issuer.IssueToken(ctx, r)
	})
}

// maidJWT is a decoded com.apple.maid token.
type maidJWT struct {
	Header struct {
		Alg, Typ string
	}
	Claims struct {
		Iss         string `json:"iss"`
		Iat         int64  `json:"iat"`
		Jti         string `json:"jti"`
		ServiceType string `json:"service_type"`
	}
}

// verifyJWT checks tok's signature by pub with the standard library and
// decodes it. The example server's tests verify the same tokens with a JWT
// library.
func verifyJWT(t *testing.T, tok string, pub crypto.PublicKey) maidJWT {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts", tok, len(parts))
	}
	var out maidJWT
	for i, v := range []any{&out.Header, &out.Claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	case *ecdsa.PublicKey:
		if len(sig) != 64 {
			t.Fatalf("ES256 signature of %d bytes, want 64", len(sig))
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(pub, digest[:], r, s) {
			err = errors.New("ECDSA signature does not verify")
		}
	}
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	return out
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestMAIDToken(t *testing.T) {
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		key  crypto.Signer
		alg  string
	}{
		{"RSA", rsaKey(t, 5), "RS256"},
		{"P-256", p256, "ES256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			issuer, err := mdm.NewMAIDIssuer(tt.key, serverUUID)
			if err != nil {
				t.Fatal(err)
			}
			if issuer.Algorithm() != tt.alg {
				t.Fatalf("Algorithm() = %s, want %s", issuer.Algorithm(), tt.alg)
			}
			var log bytes.Buffer
			h := newHarness(t, func(o *mdm.Config) {
				o.Responder = mdm.Responders{mdm.MessageGetToken: mdm.Tokens{mdm.TokenServiceMAID: issuer}}
				o.Logger = slog.New(slog.NewTextHandler(&log, nil))
			})
			d := ueDevice(t, h, "UE-MAID", 1)
			h.enroll(d)
			seen := map[string]bool{}
			for range 20 {
				before := time.Now().Unix()
				w := d.checkin(t, h.svc, getToken("UE-MAID", mdm.TokenServiceMAID))
				if w.Code != http.StatusOK {
					t.Fatalf("GetToken: %d %s", w.Code, w.Body)
				}
				if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") {
					t.Errorf("Content-Type %q", ct)
				}
				var resp map[string]any
				if _, err := plist.Unmarshal(w.Body.Bytes(), &resp); err != nil {
					t.Fatal(err)
				}
				data, ok := resp["TokenData"].([]byte)
				if !ok || len(resp) != 1 {
					t.Fatalf("response %v: want exactly TokenData as data", resp)
				}
				tok := verifyJWT(t, string(data), tt.key.Public())
				if tok.Header.Alg != tt.alg || tok.Header.Typ != "JWT" {
					t.Errorf("header %+v", tok.Header)
				}
				c := tok.Claims
				if c.Iss != serverUUID || c.ServiceType != mdm.TokenServiceMAID || !uuidRE.MatchString(c.Jti) ||
					c.Iat < before || c.Iat > time.Now().Unix() {
					t.Errorf("claims %+v", c)
				}
				if seen[c.Jti] {
					t.Fatalf("jti %s issued twice", c.Jti)
				}
				seen[c.Jti] = true
			}
			if got := h.kinds(); len(got) != 2 {
				t.Errorf("GetToken was observed as a stored event: %v", got)
			}
			// The log says a GetToken was answered, and keeps the tokens out.
			if n := strings.Count(log.String(), `check-in answered" message_type=GetToken enrollment=UE-MAID `); n != 20 || strings.Contains(log.String(), "eyJ") {
				t.Errorf("log (%d GetToken lines):\n%s", n, log.String())
			}
		})
	}
}

// TestGetTokenRefusals: nothing is issued for a service type without an
// issuer, a GetToken without one, or a request whose identity does not
// hold, and each gets its status.
func TestGetTokenRefusals(t *testing.T) {
	issuer, err := mdm.NewMAIDIssuer(rsaKey(t, 5), serverUUID)
	if err != nil {
		t.Fatal(err)
	}
	var issued atomic.Int64
	var last error
	h := newHarness(t, func(o *mdm.Config) {
		tokens := mdm.Tokens{mdm.TokenServiceMAID: countingIssuer(issuer, &issued)}
		o.Responder = mdm.ResponderFunc(func(ctx context.Context, r *mdm.Request) ([]byte, error) {
			out, err := tokens.Respond(ctx, r)
			last = err
			return out, err
		})
	})
	d := ueDevice(t, h, "UE-MAID", 1)
	h.enroll(d)
	impostor := ueDevice(t, h, "UE-MAID", 2) // a trusted certificate, not the one bound to UE-MAID
	stranger := ueDevice(t, h, "UE-OTHER", 3)
	for _, tt := range []struct {
		name string
		dev  *device
		body []byte
		code int
		want error
	}{
		{"watch pairing", d, getToken("UE-MAID", "com.apple.watch.pairing"), http.StatusBadRequest, mdm.ErrUnknownTokenService},
		{"unknown service", d, getToken("UE-MAID", "com.example.x"), http.StatusBadRequest, mdm.ErrUnknownTokenService},
		{"no service type", d, plistDoc(`<key>EnrollmentID</key><string>UE-MAID</string><key>MessageType</key><string>GetToken</string>`), http.StatusBadRequest, nil},
		{"another certificate", impostor, getToken("UE-MAID", mdm.TokenServiceMAID), http.StatusForbidden, nil},
		{"unknown enrollment", stranger, getToken("UE-OTHER", mdm.TokenServiceMAID), http.StatusNotFound, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			last = nil
			w := tt.dev.checkin(t, h.svc, tt.body)
			if w.Code != tt.code {
				t.Fatalf("status %d, want %d", w.Code, tt.code)
			}
			if tt.want != nil {
				var se *mdm.TokenServiceError
				if !errors.Is(last, tt.want) || !errors.As(last, &se) || mdm.StatusCode(last) != tt.code {
					t.Fatalf("error %v, want a *TokenServiceError matching %v", last, tt.want)
				}
			}
			if strings.Contains(w.Body.String(), "TokenData") || issued.Load() != 0 {
				t.Fatalf("a token was issued: %s (%d)", w.Body, issued.Load())
			}
		})
	}
}

func TestResponders(t *testing.T) {
	issuer, err := mdm.NewMAIDIssuer(rsaKey(t, 5), serverUUID)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(o *mdm.Config) {
		o.Responder = mdm.Responders{
			mdm.MessageGetToken: mdm.Tokens{mdm.TokenServiceMAID: issuer},
			mdm.MessageDeclarativeManagement: mdm.ResponderFunc(func(ctx context.Context, r *mdm.Request) ([]byte, error) {
				return []byte(`{"SyncTokens":{}}`), nil
			}),
		}
	})
	d := ueDevice(t, h, "UE-R", 1)
	h.enroll(d)
	dev := newDevice(t, h.ca, mdm.Identifiers{UDID: "MAC-R"}, 2)
	h.enroll(dev)
	for _, tt := range []struct {
		name string
		dev  *device
		body []byte
		code int
		want string
	}{
		{"GetToken", d, getToken("UE-R", mdm.TokenServiceMAID), http.StatusOK, "<key>TokenData</key>"},
		{"DeclarativeManagement", d, plistDoc(`<key>MessageType</key><string>DeclarativeManagement</string><key>EnrollmentID</key><string>UE-R</string><key>Endpoint</key><string>tokens</string>`), http.StatusOK, "SyncTokens"},
		{"no responder", dev, plistDoc(`<key>MessageType</key><string>GetBootstrapToken</string><key>UDID</key><string>MAC-R</string>`), http.StatusNotFound, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.dev.checkin(t, h.svc, tt.body)
			if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.want) {
				t.Fatalf("%d %s, want %d with %q", w.Code, w.Body, tt.code, tt.want)
			}
		})
	}
	// Tokens answers GetToken only.
	if _, err := (mdm.Tokens{}).Respond(t.Context(), &mdm.Request{Message: &mdm.DeclarativeManagement{}}); !errors.Is(err, mdm.ErrUnsupported) {
		t.Fatalf("Tokens answered DeclarativeManagement: %v", err)
	}
}

func TestNewMAIDIssuerRefuses(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		key  crypto.Signer
		uuid string
	}{
		{"nil key", nil, serverUUID},
		{"RSA-1024", small, serverUUID},
		{"P-384", p384, serverUUID},
		{"Ed25519", ed, serverUUID},
		{"empty UUID", rsaKey(t, 5), ""},
		{"not a UUID", rsaKey(t, 5), "677cd2d8c5a54d8b9f0a3b1e4f6a7c2d"},
		{"UUID with junk", rsaKey(t, 5), "677cd2d8-c5a5-4d8b-9f0a-3b1e4f6a7c2g"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := mdm.NewMAIDIssuer(tt.key, tt.uuid); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := mdm.NewMAIDIssuer(rsaKey(t, 5), strings.ToUpper(serverUUID)); err != nil {
		t.Fatalf("upper-case UUID: %v", err)
	}
}
