package devicesim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/profile"
	"howett.net/plist"
)

// Errors of GetToken.
var (
	// ErrNoTokenCapability means the enrollment profile's ServerCapabilities
	// lack com.apple.mdm.token: a device never sends GetToken then.
	ErrNoTokenCapability = errors.New("devicesim: the profile does not announce " + profile.CapabilityToken)
	// ErrBadToken is matched by TokenError: the GetToken response was not
	// what the device can use.
	ErrBadToken = errors.New("devicesim: unusable GetToken response")
)

// TokenError is a GetToken response the device cannot use.
type TokenError struct {
	// ServiceType is the TokenServiceType asked for.
	ServiceType string
	// Reason says what was wrong, in words.
	Reason string
}

// Error describes the response.
func (e *TokenError) Error() string {
	return fmt.Sprintf("devicesim: GetToken %s: %s", e.ServiceType, e.Reason)
}

// Unwrap returns ErrBadToken.
func (e *TokenError) Unwrap() error { return ErrBadToken }

// getTokenMessage is GetToken as an iOS User Enrollment sends it: no Topic,
// no TokenParameters (the watch-pairing ones are forbidden under User
// Enrollment).
type getTokenMessage struct {
	EnrollmentID     string
	MessageType      string
	TokenServiceType string
}

// GetToken sends a GetToken check-in for serviceType, as iOS 17 and later
// do for mdm.TokenServiceMAID when a Managed Apple Account signs in and the
// organization allows such accounts on managed devices only, and returns
// the TokenData the server answers. The device must be enrolled with a
// profile announcing com.apple.mdm.token (else ErrNoTokenCapability). The
// response must be a property list holding TokenData; for com.apple.maid
// the token must be a JWS compact serialization signed with RS256 or
// ES256 whose claims are iss, iat, jti and service_type com.apple.maid
// (else a *TokenError). Its signature is not checked here: Apple's identity
// service checks it against the key registered in Apple Business Manager.
// A refusal is an *HTTPError (400 for a service type the server does not
// issue).
func (d *Device) GetToken(ctx context.Context, serviceType string) ([]byte, error) {
	d.reqMu.Lock()
	defer d.reqMu.Unlock()
	enr, client, err := d.session()
	if err != nil {
		return nil, err
	}
	if !slices.Contains(enr.ServerCapabilities, profile.CapabilityToken) {
		return nil, ErrNoTokenCapability
	}
	body, err := d.checkin(ctx, client, enr, channelDevice, "GetToken", getTokenMessage{
		EnrollmentID: enr.EnrollmentID, MessageType: "GetToken", TokenServiceType: serviceType,
	})
	if err != nil {
		return nil, err
	}
	var resp struct {
		TokenData []byte
	}
	if _, err := plist.Unmarshal(body, &resp); err != nil {
		return nil, &TokenError{ServiceType: serviceType, Reason: "response is not a property list: " + err.Error()}
	}
	if len(resp.TokenData) == 0 {
		return nil, &TokenError{ServiceType: serviceType, Reason: "no TokenData"}
	}
	if serviceType == mdm.TokenServiceMAID {
		if reason := checkMAIDShape(resp.TokenData); reason != "" {
			return nil, &TokenError{ServiceType: serviceType, Reason: reason}
		}
	}
	return resp.TokenData, nil
}

// checkMAIDShape returns why tok is not a com.apple.maid token as Apple
// documents it, or "".
func checkMAIDShape(tok []byte) string {
	parts := bytes.Split(tok, []byte("."))
	if len(parts) != 3 {
		return fmt.Sprintf("token has %d dot-separated parts, want 3 (JWS compact serialization)", len(parts))
	}
	var header struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	var claims struct {
		Iss         *string  `json:"iss"`
		Iat         *float64 `json:"iat"`
		Jti         *string  `json:"jti"`
		ServiceType *string  `json:"service_type"`
	}
	for i, v := range []any{&header, &claims, nil} {
		b, err := base64.RawURLEncoding.DecodeString(string(parts[i]))
		if err != nil || len(b) == 0 {
			return fmt.Sprintf("token part %d is not base64url", i+1)
		}
		if v != nil {
			if err := json.Unmarshal(b, v); err != nil {
				return fmt.Sprintf("token part %d is not a JSON object: %v", i+1, err)
			}
		}
	}
	switch {
	case header.Alg != "RS256" && header.Alg != "ES256":
		return fmt.Sprintf("alg %q, want RS256 or ES256", header.Alg)
	case header.Typ != "" && header.Typ != "JWT":
		return fmt.Sprintf("typ %q, want JWT", header.Typ)
	case claims.Iss == nil || *claims.Iss == "":
		return "no iss claim (the server UUID)"
	case claims.Iat == nil || *claims.Iat <= 0:
		return "no iat claim"
	case claims.Jti == nil || *claims.Jti == "":
		return "no jti claim"
	case claims.ServiceType == nil || *claims.ServiceType != mdm.TokenServiceMAID:
		return "service_type is not " + mdm.TokenServiceMAID
	}
	return ""
}
