package devicesim_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/profile"
	"howett.net/plist"
)

// jws joins header, claims and a signature as a compact JWS; the fake
// server's tokens are never verified, only their shape.
func jws(header, claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(claims)) + "." + enc([]byte("signature"))
}

func tokenData(t *testing.T, tok string) []byte {
	t.Helper()
	b, err := plist.Marshal(struct{ TokenData []byte }{[]byte(tok)}, plist.XMLFormat)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const goodClaims = `{"iss":"677cd2d8-c5a5-4d8b-9f0a-3b1e4f6a7c2d","iat":1796000000,"jti":"0f0e4b3a-2a4c-4b7e-9d55-8c1f3a2b4c5d","service_type":"com.apple.maid"}`

func TestGetToken(t *testing.T) {
	ctx := testContext(t)
	good := jws(`{"alg":"RS256","typ":"JWT"}`, goodClaims)
	for _, tt := range []struct {
		name    string
		service string
		code    int
		body    func(t *testing.T) []byte
		want    error // nil: the token is returned
	}{
		{"com.apple.maid RS256", mdm.TokenServiceMAID, 200, func(t *testing.T) []byte { return tokenData(t, good) }, nil},
		{"com.apple.maid ES256", mdm.TokenServiceMAID, 200, func(t *testing.T) []byte { return tokenData(t, jws(`{"alg":"ES256"}`, goodClaims)) }, nil},
		{"another service, any token", "com.example.opaque", 200, func(t *testing.T) []byte { return tokenData(t, "opaque") }, nil},
		{"service refused", "com.apple.watch.pairing", 400, func(*testing.T) []byte { return nil }, devicesim.ErrUnexpectedResponse},
		{"not a plist", mdm.TokenServiceMAID, 200, func(*testing.T) []byte { return []byte("{}") }, devicesim.ErrBadToken},
		{"no TokenData", mdm.TokenServiceMAID, 200, func(t *testing.T) []byte { return tokenData(t, "") }, devicesim.ErrBadToken},
		{"two parts", mdm.TokenServiceMAID, 200, func(t *testing.T) []byte { return tokenData(t, good[:strings.LastIndex(good, ".")]) }, devicesim.ErrBadToken},
		{"alg none", mdm.TokenServiceMAID, 200, func(t *testing.T) []byte { return tokenData(t, jws(`{"alg":"none"}`, goodClaims)) }, devicesim.ErrBadToken},
		{"HS256", mdm.TokenServiceMAID, 200, func(t *testing.T) []byte { return tokenData(t, jws(`{"alg":"HS256"}`, goodClaims)) }, devicesim.ErrBadToken},
		{"no jti", mdm.TokenServiceMAID, 200, func(t *testing.T) []byte {
			return tokenData(t, jws(`{"alg":"RS256"}`, `{"iss":"x","iat":1,"service_type":"com.apple.maid"}`))
		}, devicesim.ErrBadToken},
		{"no iat", mdm.TokenServiceMAID, 200, func(t *testing.T) []byte {
			return tokenData(t, jws(`{"alg":"RS256"}`, `{"iss":"x","jti":"y","service_type":"com.apple.maid"}`))
		}, devicesim.ErrBadToken},
		{"other service_type", mdm.TokenServiceMAID, 200, func(t *testing.T) []byte {
			return tokenData(t, jws(`{"alg":"RS256"}`, strings.Replace(goodClaims, "com.apple.maid", "com.apple.watch.pairing", 1)))
		}, devicesim.ErrBadToken},
		{"claims not JSON", mdm.TokenServiceMAID, 200, func(t *testing.T) []byte { return tokenData(t, jws(`{"alg":"RS256"}`, `[`)) }, devicesim.ErrBadToken},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t)
			f.profileMutator = func(p *profile.Profile) {
				p.MDM().ServerCapabilities = []string{profile.CapabilityToken}
			}
			body := tt.body(t)
			f.getToken = func(service string) (int, []byte) {
				if service != tt.service {
					return http.StatusTeapot, nil
				}
				return tt.code, body
			}
			d := f.newDevice(t, devicesim.Options{})
			if _, err := d.GetToken(ctx, tt.service); !errors.Is(err, devicesim.ErrNotEnrolled) {
				t.Fatalf("before enrollment: %v", err)
			}
			if err := d.EnrollWithInvitation(ctx, f.srv.URL+"/invite/good", goodCreds); err != nil {
				t.Fatal(err)
			}
			tok, err := d.GetToken(ctx, tt.service)
			switch {
			case tt.want == nil && (err != nil || !slices.Equal(tok, mustTokenData(t, body))):
				t.Fatalf("GetToken = %q, %v", tok, err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("GetToken = %q, %v; want %v", tok, err, tt.want)
			}
			var te *devicesim.TokenError
			if errors.Is(err, devicesim.ErrBadToken) && (!errors.As(err, &te) || te.ServiceType != tt.service || te.Reason == "") {
				t.Fatalf("error %#v is not a *TokenError", err)
			}
			// The check-in is GetToken exactly as iOS sends it under User
			// Enrollment, signed like every other.
			reqs := f.mdmRequests("/checkin")
			last := reqs[len(reqs)-1]
			enr, _ := d.Enrollment()
			want := map[string]any{"EnrollmentID": enr.EnrollmentID, "MessageType": "GetToken", "TokenServiceType": tt.service}
			if len(last.Msg) != len(want) {
				t.Fatalf("GetToken check-in %v, want %v", last.Msg, want)
			}
			for k, v := range want {
				if last.Msg[k] != v {
					t.Fatalf("GetToken check-in %v, want %v", last.Msg, want)
				}
			}
		})
	}
}

func mustTokenData(t *testing.T, body []byte) []byte {
	t.Helper()
	var v struct{ TokenData []byte }
	if _, err := plist.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	return v.TokenData
}

// TestGetTokenNeedsCapability: without com.apple.mdm.token in the profile
// a device never asks.
func TestGetTokenNeedsCapability(t *testing.T) {
	ctx := testContext(t)
	f := newFakeServer(t)
	d := f.newDevice(t, devicesim.Options{})
	if err := d.EnrollWithInvitation(ctx, f.srv.URL+"/invite/good", goodCreds); err != nil {
		t.Fatal(err)
	}
	before := len(f.mdmRequests("/checkin"))
	if _, err := d.GetToken(ctx, mdm.TokenServiceMAID); !errors.Is(err, devicesim.ErrNoTokenCapability) {
		t.Fatalf("GetToken = %v, want ErrNoTokenCapability", err)
	}
	if after := len(f.mdmRequests("/checkin")); after != before {
		t.Fatalf("the device sent %d check-ins anyway", after-before)
	}
}
