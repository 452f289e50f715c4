package profile

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/url"
	"strings"
)

// ValidateOptions tunes Validate, as ParseOptions tunes Parse.
type ValidateOptions struct {
	// AllowInsecureURLs accepts http:// ServerURL, CheckInURL and ACME
	// DirectoryURL values. It exists for local testing only: a device
	// refuses such a profile.
	AllowInsecureURLs bool
}

// Validate checks p against Apple's rules for enrollment profiles and
// returns every problem found, joined; each is a *FieldError naming the key
// and wrapping one of the package's sentinel errors. It returns nil for a
// valid profile.
//
// Beyond per-key rules it checks the enrollment kind of the com.apple.mdm
// payload: user enrollment (ManagedAppleID, or EnrollmentMode BYOD) must
// not carry AccessRights; device enrollment must.
func (p *Profile) Validate(opts ValidateOptions) error {
	v := validator{opts: opts}
	v.profile(p)
	return errors.Join(v.errs...)
}

type validator struct {
	opts ValidateOptions
	errs []error
}

func (v *validator) add(field string, err error, format string, args ...any) {
	v.errs = append(v.errs, fieldErr(field, err, format, args...))
}

// required reports whether value is set and records ErrMissing on
// path+key when not. The path is joined only on failure: validation runs
// on every profile served.
func (v *validator) required(path, key, value string) bool {
	if value == "" {
		v.add(path+key, ErrMissing, "")
		return false
	}
	return true
}

func (v *validator) profile(p *Profile) {
	v.required("", "PayloadIdentifier", p.PayloadIdentifier)
	v.required("", "PayloadUUID", p.PayloadUUID)
	if p.PayloadScope != "" && p.PayloadScope != "System" && p.PayloadScope != "User" {
		v.add("PayloadScope", ErrInvalidValue, "got %q, want System or User", p.PayloadScope)
	}
	uuids := map[string]string{}
	if p.PayloadUUID != "" {
		uuids[p.PayloadUUID] = "the profile"
	}
	ids := map[string]string{}
	mdms := 0
	for i, pl := range p.Payloads {
		path := itemPath(i)
		if pl == nil {
			v.add(path, ErrMissing, "nil payload")
			continue
		}
		h := pl.PayloadHeader()
		v.required(path, ".PayloadType", pl.Type())
		if v.required(path, ".PayloadIdentifier", h.PayloadIdentifier) {
			if prev, dup := ids[h.PayloadIdentifier]; dup {
				v.add(path+".PayloadIdentifier", ErrDuplicateIdentifier, "%q also used by %s", h.PayloadIdentifier, prev)
			}
			ids[h.PayloadIdentifier] = path
		}
		if v.required(path, ".PayloadUUID", h.PayloadUUID) {
			if prev, dup := uuids[h.PayloadUUID]; dup {
				v.add(path+".PayloadUUID", ErrDuplicateUUID, "%q also used by %s", h.PayloadUUID, prev)
			}
			uuids[h.PayloadUUID] = path
		}
		switch pl := pl.(type) {
		case *MDM:
			mdms++
			if mdms > 1 {
				v.add(path, ErrMultipleMDM, "")
			}
			v.mdm(p, pl, path)
		case *SCEP:
			v.scep(pl, path)
		case *ACME:
			v.acme(pl, path)
		case *PKCS12:
			if len(pl.Content) == 0 {
				v.add(path+".PayloadContent", ErrMissing, "")
			}
		case *Root:
			if len(pl.Content) == 0 {
				v.add(path+".PayloadContent", ErrMissing, "")
			} else if _, err := x509.ParseCertificate(pl.Content); err != nil {
				v.add(path+".PayloadContent", ErrInvalidValue, "not a DER certificate: %v", err)
			}
		case *PEM:
			if len(pl.Content) == 0 {
				v.add(path+".PayloadContent", ErrMissing, "")
			} else if b, _ := pem.Decode(pl.Content); b == nil || b.Type != "CERTIFICATE" {
				v.add(path+".PayloadContent", ErrInvalidValue, "not a PEM certificate")
			}
		}
	}
}

func (v *validator) url(path, key, raw string, allowHTTP bool) {
	if simpleHTTPSURL(raw) {
		return
	}
	field := path + key
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		v.add(field, ErrInvalidValue, "%q is not an absolute http(s) URL", raw)
		return
	}
	if u.Scheme == "http" && !allowHTTP {
		v.add(field, ErrInsecureURL, "%q", raw)
	}
}

// simpleHTTPSURL reports, without allocating, whether raw is an https URL
// of the plainest form: a host of letters, digits, dots and hyphens, then
// printable ASCII without escapes. Anything else gets the full parse.
func simpleHTTPSURL(raw string) bool {
	rest, ok := strings.CutPrefix(raw, "https://")
	if !ok {
		return false
	}
	host := true
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if host {
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-':
				continue
			case c == '/' && i > 0:
				host = false
				continue
			}
			return false
		}
		if c <= 0x20 || c >= 0x7f || c == '%' || c == '#' {
			return false
		}
	}
	return !host || len(rest) > 0
}

func (v *validator) mdm(p *Profile, m *MDM, path string) {
	if v.required(path, ".Topic", m.Topic) && !strings.HasPrefix(m.Topic, TopicPrefix) {
		v.add(path+".Topic", ErrTopic, "got %q", m.Topic)
	}
	if v.required(path, ".ServerURL", m.ServerURL) {
		v.url(path, ".ServerURL", m.ServerURL, v.opts.AllowInsecureURLs)
	}
	if m.CheckInURL != "" {
		v.url(path, ".CheckInURL", m.CheckInURL, v.opts.AllowInsecureURLs)
	}
	if v.required(path, ".IdentityCertificateUUID", m.IdentityCertificateUUID) {
		if target := p.Payload(m.IdentityCertificateUUID); target == nil || !isIdentity(target) {
			v.add(path+".IdentityCertificateUUID", ErrNoIdentity, "%q", m.IdentityCertificateUUID)
		}
	}
	for _, list := range []struct {
		name  string
		uuids []string
	}{
		{"ServerURLPinningCertificateUUIDs", m.ServerURLPinningCertificateUUIDs},
		{"CheckInURLPinningCertificateUUIDs", m.CheckInURLPinningCertificateUUIDs},
	} {
		for i, u := range list.uuids {
			if target := p.Payload(u); target == nil || !isCertificate(target) {
				v.add(path+"."+list.name+"["+itoa(i)+"]", ErrNoCertificate, "%q", u)
			}
		}
	}
	for i, c := range m.ServerCapabilities {
		switch c {
		case CapabilityPerUserConnections, CapabilityBootstrapToken, CapabilityToken:
		default:
			v.add(path+".ServerCapabilities["+itoa(i)+"]", ErrInvalidValue, "unknown capability %q", c)
		}
	}

	// The enrollment kind decides AccessRights.
	switch m.EnrollmentMode {
	case "":
	case ModeBYOD, ModeADDE:
		v.required(path, ".AssignedManagedAppleID", m.AssignedManagedAppleID)
		if m.ManagedAppleID != "" {
			v.add(path+".ManagedAppleID", ErrInvalidValue, "profile-based ManagedAppleID cannot be combined with EnrollmentMode %s", m.EnrollmentMode)
		}
	default:
		v.add(path+".EnrollmentMode", ErrInvalidValue, "got %q, want BYOD or ADDE", m.EnrollmentMode)
	}
	userEnrollment := m.EnrollmentMode == ModeBYOD || (m.EnrollmentMode == "" && m.ManagedAppleID != "")
	switch {
	case userEnrollment && m.AccessRights != 0:
		v.add(path+".AccessRights", ErrAccessRightsForbidden, "got %d", m.AccessRights)
	case !userEnrollment && m.AccessRights == 0:
		v.add(path+".AccessRights", ErrAccessRightsRequired, "")
	case m.AccessRights != 0:
		r := m.AccessRights
		switch {
		case r < 0 || r > AllRights:
			v.add(path+".AccessRights", ErrInvalidValue, "%d is outside 1–%d", r, AllRights)
		case r&RightInstallRemoveProfiles != 0 && r&RightInspectProfiles == 0:
			v.add(path+".AccessRights", ErrInvalidValue, "right 2 requires right 1")
		case r&RightInstallProvisioningProfile != 0 && r&RightInspectProvisioningProfile == 0:
			v.add(path+".AccessRights", ErrInvalidValue, "right 128 requires right 64")
		}
	}
	if m.AssignedManagedAppleID != "" && m.EnrollmentMode == "" {
		v.add(path+".EnrollmentMode", ErrMissing, "AssignedManagedAppleID needs EnrollmentMode")
	}
}

func (v *validator) scep(s *SCEP, path string) {
	in := path + ".PayloadContent"
	if v.required(in, ".URL", s.URL) {
		// SCEP messages are signed and encrypted on their own; Apple
		// accepts plain http for the SCEP URL.
		v.url(in, ".URL", s.URL, true)
	}
	switch s.Keysize {
	case 0, 1024, 2048, 4096:
	default:
		v.add(in+".Keysize", ErrInvalidValue, "got %d, want 1024, 2048 or 4096", s.Keysize)
	}
	if s.KeyType != "" && s.KeyType != KeyTypeRSA {
		v.add(in+".Key Type", ErrInvalidValue, "got %q, want RSA", s.KeyType)
	}
	if s.KeyUsage&^5 != 0 {
		v.add(in+".Key Usage", ErrInvalidValue, "got %d, want a combination of 1 and 4", s.KeyUsage)
	}
	if s.Retries != nil && *s.Retries < 0 {
		v.add(in+".Retries", ErrInvalidValue, "negative")
	}
	if s.RetryDelay != nil && *s.RetryDelay < 0 {
		v.add(in+".RetryDelay", ErrInvalidValue, "negative")
	}
	v.subject(in+".Subject", s.Subject)
}

func (v *validator) acme(a *ACME, path string) {
	if v.required(path, ".DirectoryURL", a.DirectoryURL) {
		v.url(path, ".DirectoryURL", a.DirectoryURL, v.opts.AllowInsecureURLs)
	}
	v.required(path, ".ClientIdentifier", a.ClientIdentifier)
	if len(a.Subject) == 0 {
		v.add(path+".Subject", ErrMissing, "")
	}
	v.subject(path+".Subject", a.Subject)
	switch a.KeyType {
	case KeyTypeRSA:
		if a.KeySize < 1024 || a.KeySize > 4096 || a.KeySize%8 != 0 {
			v.add(path+".KeySize", ErrInvalidValue, "RSA key size %d is not a multiple of 8 in 1024–4096", a.KeySize)
		}
		if a.HardwareBound {
			v.add(path+".HardwareBound", ErrInvalidValue, "hardware-bound keys must be ECSECPrimeRandom")
		}
	case KeyTypeEC:
		switch a.KeySize {
		case 256, 384:
		case 192, 521:
			if a.HardwareBound {
				v.add(path+".KeySize", ErrInvalidValue, "hardware-bound keys are 256 or 384 bits, got %d", a.KeySize)
			}
		default:
			v.add(path+".KeySize", ErrInvalidValue, "EC key size %d is not 192, 256, 384 or 521", a.KeySize)
		}
	case "":
		v.add(path+".KeyType", ErrMissing, "")
	default:
		v.add(path+".KeyType", ErrInvalidValue, "got %q, want RSA or ECSECPrimeRandom", a.KeyType)
	}
	if a.Attest && !a.HardwareBound {
		v.add(path+".Attest", ErrInvalidValue, "Attest requires HardwareBound")
	}
}

func (v *validator) subject(field string, s Subject) {
	for i, rdn := range s {
		for j, a := range rdn {
			if a.Type == "" || a.Value == "" {
				v.add(field+"["+itoa(i)+"]["+itoa(j)+"]", ErrMissing, "empty attribute type or value")
			}
		}
	}
}
