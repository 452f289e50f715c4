package devicesim

import (
	"crypto/x509"
	"fmt"

	"github.com/enrollkit/enrollkit/profile"
)

// profileInfo is what the device read from an enrollment profile.
type profileInfo struct {
	// Profile is the decoded profile.
	Profile *profile.Profile
	// Chain is the signer's certificate first, then its issuers.
	Chain []*x509.Certificate
	// MDM is the com.apple.mdm payload.
	MDM *profile.MDM
	// SCEP or ACME is the identity payload MDM names.
	SCEP *profile.SCEP
	ACME *profile.ACME
	// ManagedAppleID is the MDM payload's ManagedAppleID (profile-based)
	// or AssignedManagedAppleID (account-driven).
	ManagedAppleID string
	// CheckInURL is the MDM payload's CheckInURL, or ServerURL when absent.
	CheckInURL string
}

// profileCheckOptions tunes checkProfile.
type profileCheckOptions struct {
	// Roots are the roots the signer must chain to; nil checks the
	// signature only.
	Roots *x509.CertPool
	// AllowInsecureURLs accepts http:// MDM URLs (local tests only; an
	// iPhone refuses them).
	AllowInsecureURLs bool
}

// checkProfile verifies a signed enrollment profile with the profile
// package's verifier and checks the keys iOS checks before it installs a
// User Enrollment: Apple's rules for the profile (profile.Validate), one
// com.apple.mdm payload marking a User Enrollment (ManagedAppleID, or
// EnrollmentMode BYOD with AssignedManagedAppleID), no AccessRights under
// BYOD, and a SCEP or ACME identity payload. Every refusal is a *ProfileError.
func checkProfile(raw []byte, opts profileCheckOptions) (*profileInfo, error) {
	parsed, err := profile.Parse(raw, profile.ParseOptions{Roots: opts.Roots, RequireSignature: true})
	if err != nil {
		return nil, &ProfileError{Reason: "signature or format", Err: err}
	}
	p := parsed.Profile
	info := &profileInfo{Profile: p, Chain: parsed.Chain, MDM: p.MDM()}
	m := info.MDM
	if m == nil {
		return nil, &ProfileError{Reason: "no com.apple.mdm payload"}
	}
	// Checked before Validate so the reason is explicit: a device cancels
	// an account-driven user enrollment whose profile carries AccessRights.
	if m.EnrollmentMode == profile.ModeBYOD && m.AccessRights != 0 {
		return nil, &ProfileError{Reason: "AccessRights present with EnrollmentMode BYOD", Err: profile.ErrAccessRightsForbidden}
	}
	if err := p.Validate(profile.ValidateOptions{AllowInsecureURLs: opts.AllowInsecureURLs}); err != nil {
		return nil, &ProfileError{Reason: "invalid profile", Err: err}
	}
	switch {
	case m.EnrollmentMode == profile.ModeBYOD:
		info.ManagedAppleID = m.AssignedManagedAppleID
		if info.ManagedAppleID == "" {
			return nil, &ProfileError{Reason: "EnrollmentMode BYOD without AssignedManagedAppleID"}
		}
	case m.EnrollmentMode != "":
		return nil, &ProfileError{Reason: fmt.Sprintf("EnrollmentMode %q is not a User Enrollment", m.EnrollmentMode)}
	case m.ManagedAppleID != "":
		info.ManagedAppleID = m.ManagedAppleID
	default:
		return nil, &ProfileError{Reason: "neither ManagedAppleID nor EnrollmentMode: a device enrollment, not a User Enrollment"}
	}
	if m.AccessRights != 0 {
		return nil, &ProfileError{Reason: "AccessRights present in a User Enrollment profile", Err: profile.ErrAccessRightsForbidden}
	}
	switch id := p.Payload(m.IdentityCertificateUUID).(type) {
	case *profile.SCEP:
		info.SCEP = id
	case *profile.ACME:
		info.ACME = id
	default:
		return nil, &ProfileError{Reason: "identity payload is neither SCEP nor ACME (PKCS#12 is not simulated)"}
	}
	info.CheckInURL = m.CheckInURL
	if info.CheckInURL == "" {
		info.CheckInURL = m.ServerURL
	}
	return info, nil
}

// subjectPairs converts a profile Subject for subjectName.
func subjectPairs(s profile.Subject) [][][]string {
	out := make([][][]string, 0, len(s))
	for _, rdn := range s {
		var r [][]string
		for _, a := range rdn {
			r = append(r, []string{a.Type, a.Value})
		}
		out = append(out, r)
	}
	return out
}

// profileSummary builds the ProfileList entry of an installed profile.
func profileSummary(p *profile.Profile, chain []*x509.Certificate) map[string]any {
	item := map[string]any{
		"PayloadIdentifier":        p.PayloadIdentifier,
		"PayloadUUID":              p.PayloadUUID,
		"PayloadVersion":           1,
		"PayloadRemovalDisallowed": p.PayloadRemovalDisallowed,
		"HasRemovalPasscode":       false,
		"IsEncrypted":              false,
		"IsManaged":                true,
	}
	opt := func(m map[string]any, k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	opt(item, "PayloadDisplayName", p.PayloadDisplayName)
	opt(item, "PayloadOrganization", p.PayloadOrganization)
	opt(item, "PayloadDescription", p.PayloadDescription)
	if len(chain) > 0 {
		var certs [][]byte
		for _, c := range chain {
			certs = append(certs, c.Raw)
		}
		item["SignerCertificates"] = certs
	}
	content := []map[string]any{}
	for _, pl := range p.Payloads {
		h := pl.PayloadHeader()
		c := map[string]any{"PayloadType": pl.Type(), "PayloadIdentifier": h.PayloadIdentifier,
			"PayloadUUID": h.PayloadUUID, "PayloadVersion": 1}
		opt(c, "PayloadDisplayName", h.PayloadDisplayName)
		opt(c, "PayloadOrganization", h.PayloadOrganization)
		opt(c, "PayloadDescription", h.PayloadDescription)
		content = append(content, c)
	}
	item["PayloadContent"] = content
	return item
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }
