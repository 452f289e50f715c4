package profile

import (
	"crypto/sha1"
	"strconv"
)

// EnrollmentSpec is what every enrollment profile needs: the MDM server, its
// push topic and the identity the device enrolls with. The builders
// NewUserEnrollment, NewAccountDrivenUserEnrollment and NewDeviceEnrollment
// add what their kind requires.
//
// Payload identifiers derive from Identifier and payload UUIDs from
// Identifier and Seed, unless the payloads given already carry them, so the
// same EnrollmentSpec always gives byte-identical output. Every builder
// validates the profile it built and returns either it or, with a nil
// profile, the errors Validate reports.
type EnrollmentSpec struct {
	// Identifier is the profile's PayloadIdentifier (reverse-DNS, such as
	// "com.example.mdm.enroll"). Required.
	Identifier string
	// Seed makes derived PayloadUUIDs unique to one enrollment; pass the
	// enrollment's ID. Profiles built with the same Identifier and Seed
	// carry the same UUIDs, which lets a device replace an installed
	// profile by reinstalling it.
	Seed string

	// DisplayName, Organization and Description are shown on the device.
	DisplayName  string
	Organization string
	Description  string
	// ConsentText is shown before installation, keyed by language code or
	// "default".
	ConsentText map[string]string

	// Topic is the push certificate's topic ("com.apple.mgmt.…"). Required.
	Topic string
	// ServerURL is the MDM command endpoint. Required, https.
	ServerURL string
	// CheckInURL is the check-in endpoint; empty means ServerURL.
	CheckInURL string
	// SignMessage makes the device sign every request (Mdm-Signature).
	SignMessage bool
	// CheckOutWhenRemoved makes the device send CheckOut on removal.
	CheckOutWhenRemoved bool
	// UseDevelopmentAPNS selects the APNs sandbox.
	UseDevelopmentAPNS bool
	// ServerCapabilities lists Capability… strings.
	ServerCapabilities []string

	// Identity is the *SCEP, *ACME or *PKCS12 payload whose identity the
	// device uses for MDM. Required. It is copied, not modified; empty
	// header fields of the copy are filled in.
	Identity Payload
	// Certificates are further payloads, typically *Root or *PEM anchors
	// for the server's TLS certificate. They are copied like Identity.
	Certificates []Payload
	// PinCertificates makes the device pin the Certificates payloads for
	// ServerURL and CheckInURL.
	PinCertificates bool

	// ValidateOptions tune how the built profile is validated.
	ValidateOptions
}

// NewUserEnrollment builds a profile-based User Enrollment profile (iOS
// 13–17): the MDM payload carries managedAppleID and no AccessRights.
func NewUserEnrollment(e EnrollmentSpec, managedAppleID string) (*Profile, error) {
	p, m := e.build()
	m.ManagedAppleID = managedAppleID
	if managedAppleID == "" {
		return nil, fieldErr(itemPath(0)+".ManagedAppleID", ErrMissing, "")
	}
	return finish(p, e.ValidateOptions)
}

// NewAccountDrivenUserEnrollment builds the profile of an account-driven
// User Enrollment (iOS 15+): EnrollmentMode BYOD with
// AssignedManagedAppleID, and no AccessRights, which would make the device
// cancel.
func NewAccountDrivenUserEnrollment(e EnrollmentSpec, assignedManagedAppleID string) (*Profile, error) {
	p, m := e.build()
	m.EnrollmentMode = ModeBYOD
	m.AssignedManagedAppleID = assignedManagedAppleID
	return finish(p, e.ValidateOptions)
}

// NewDeviceEnrollment builds a device enrollment profile for a
// corporate-owned device; rights must not be zero.
func NewDeviceEnrollment(e EnrollmentSpec, rights AccessRights) (*Profile, error) {
	p, m := e.build()
	m.AccessRights = rights
	return finish(p, e.ValidateOptions)
}

// finish validates p, returning it only when valid.
func finish(p *Profile, opts ValidateOptions) (*Profile, error) {
	if err := p.Validate(opts); err != nil {
		return nil, err
	}
	return p, nil
}

// build assembles the profile and its MDM payload (always Payloads[0]).
func (e *EnrollmentSpec) build() (*Profile, *MDM) {
	p := &Profile{
		PayloadIdentifier:   e.Identifier,
		PayloadUUID:         deriveUUID(e.Seed, e.Identifier),
		PayloadDisplayName:  e.DisplayName,
		PayloadOrganization: e.Organization,
		PayloadDescription:  e.Description,
		ConsentText:         e.ConsentText,
	}
	m := &MDM{
		Topic:               e.Topic,
		ServerURL:           e.ServerURL,
		CheckInURL:          e.CheckInURL,
		SignMessage:         e.SignMessage,
		CheckOutWhenRemoved: e.CheckOutWhenRemoved,
		UseDevelopmentAPNS:  e.UseDevelopmentAPNS,
		ServerCapabilities:  e.ServerCapabilities,
	}
	e.fill(&m.Header, "mdm", "MDM")
	p.Payloads = append(p.Payloads, m)

	if e.Identity != nil {
		id := copyPayload(e.Identity)
		e.fill(id.PayloadHeader(), "identity", "Identity")
		m.IdentityCertificateUUID = id.PayloadHeader().PayloadUUID
		p.Payloads = append(p.Payloads, id)
	}
	for i, c := range e.Certificates {
		if c == nil {
			p.Payloads = append(p.Payloads, nil)
			continue
		}
		c = copyPayload(c)
		n := strconv.Itoa(i + 1)
		e.fill(c.PayloadHeader(), "certificate"+n, "Certificate "+n)
		p.Payloads = append(p.Payloads, c)
		if e.PinCertificates {
			u := c.PayloadHeader().PayloadUUID
			m.ServerURLPinningCertificateUUIDs = append(m.ServerURLPinningCertificateUUIDs, u)
			m.CheckInURLPinningCertificateUUIDs = append(m.CheckInURLPinningCertificateUUIDs, u)
		}
	}
	return p, m
}

// fill completes a payload header: identifier "<profile>.<suffix>", a UUID
// derived from it, version 1 and a display name.
func (e *EnrollmentSpec) fill(h *Header, suffix, name string) {
	if h.PayloadIdentifier == "" && e.Identifier != "" {
		h.PayloadIdentifier = e.Identifier + "." + suffix
	}
	if h.PayloadUUID == "" && h.PayloadIdentifier != "" {
		h.PayloadUUID = deriveUUID(e.Seed, h.PayloadIdentifier)
	}
	if h.PayloadVersion == 0 {
		h.PayloadVersion = 1
	}
	if h.PayloadDisplayName == "" {
		h.PayloadDisplayName = name
	}
}

// copyPayload returns a shallow copy of p so that builders never modify
// the caller's payloads.
func copyPayload(p Payload) Payload {
	switch v := p.(type) {
	case *MDM:
		c := *v
		return &c
	case *SCEP:
		c := *v
		return &c
	case *ACME:
		c := *v
		return &c
	case *PKCS12:
		c := *v
		return &c
	case *Root:
		c := *v
		return &c
	case *PEM:
		c := *v
		return &c
	case *Generic:
		c := *v
		return &c
	}
	return p
}

// uuidNamespace is the namespace of enrollkit's name-based UUIDs.
var uuidNamespace = [16]byte{0x6b, 0x1e, 0x0d, 0x52, 0x8f, 0x3a, 0x4c, 0x1b, 0x9a, 0x57, 0x2e, 0x41, 0x7c, 0x0f, 0x63, 0xd8}

// deriveUUID returns a name-based (version 5, RFC 9562) UUID for the
// payload identifier within the seed, in upper case as Apple writes
// PayloadUUIDs. The same inputs always give the same UUID.
func deriveUUID(seed, identifier string) string {
	h := sha1.New()
	h.Write(uuidNamespace[:])
	h.Write([]byte(seed))
	h.Write([]byte{0})
	h.Write([]byte(identifier))
	var sum [sha1.Size]byte
	b := h.Sum(sum[:0])[:16]
	b[6] = b[6]&0x0f | 0x50 // version 5
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	const hexdigits = "0123456789ABCDEF"
	var out [36]byte
	n := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[n] = '-'
			n++
		}
		out[n], out[n+1] = hexdigits[c>>4], hexdigits[c&0x0f]
		n += 2
	}
	return string(out[:])
}
