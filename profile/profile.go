package profile

import "strconv"

// Payload types this package models. Any other type is kept as a *Generic.
const (
	TypeConfiguration = "Configuration"
	TypeMDM           = "com.apple.mdm"
	TypeSCEP          = "com.apple.security.scep"
	TypeACME          = "com.apple.security.acme"
	TypePKCS12        = "com.apple.security.pkcs12"
	TypeRoot          = "com.apple.security.root"
	TypePEM           = "com.apple.security.pem"
)

// ContentType is the media type of a profile download.
const ContentType = "application/x-apple-aspen-config"

// TopicPrefix starts every MDM push topic.
const TopicPrefix = "com.apple.mgmt."

// Profile is a configuration profile: the top-level dictionary of a
// .mobileconfig. PayloadType ("Configuration") and PayloadVersion (1) are
// implied and written by Marshal.
type Profile struct {
	// PayloadIdentifier names the profile (reverse-DNS); installing a
	// profile with the same identifier replaces the installed one.
	PayloadIdentifier string
	// PayloadUUID identifies this version of the profile.
	PayloadUUID string
	// PayloadDisplayName, PayloadOrganization and PayloadDescription are
	// shown to the user.
	PayloadDisplayName  string
	PayloadOrganization string
	PayloadDescription  string
	// PayloadScope is "System" or "User" (macOS); empty leaves it out.
	PayloadScope string
	// PayloadRemovalDisallowed asks the device to refuse manual removal.
	PayloadRemovalDisallowed bool
	// ConsentText maps a language code (or "default") to text the device
	// shows before installing.
	ConsentText map[string]string

	// Payloads is PayloadContent, in order.
	Payloads []Payload

	// Extra holds top-level keys this type does not model; they are
	// written back unchanged.
	Extra map[string]any
}

// Payload is one entry of a profile's PayloadContent. The concrete types
// are *MDM, *SCEP, *ACME, *PKCS12, *Root, *PEM and, for every other payload
// type, *Generic.
type Payload interface {
	// Type returns the PayloadType.
	Type() string
	// PayloadHeader returns the keys every payload has, for reading and
	// setting.
	PayloadHeader() *Header

	toDict() dict
}

// Compile-time checks that every payload type is a Payload.
var (
	_ Payload = (*MDM)(nil)
	_ Payload = (*SCEP)(nil)
	_ Payload = (*ACME)(nil)
	_ Payload = (*PKCS12)(nil)
	_ Payload = (*Root)(nil)
	_ Payload = (*PEM)(nil)
	_ Payload = (*Generic)(nil)
)

// Header holds the keys common to every payload.
type Header struct {
	// PayloadIdentifier is unique within the profile (reverse-DNS).
	PayloadIdentifier string
	// PayloadUUID is unique within the profile; other payloads refer to
	// a payload by it.
	PayloadUUID string
	// PayloadVersion is 1; zero leaves it out.
	PayloadVersion int
	// PayloadDisplayName, PayloadDescription and PayloadOrganization are
	// shown to the user.
	PayloadDisplayName  string
	PayloadDescription  string
	PayloadOrganization string
}

// PayloadHeader returns h; it makes every type embedding Header satisfy
// that part of Payload.
func (h *Header) PayloadHeader() *Header { return h }

// write adds the header keys.
func (h *Header) write(w dict, typ string) {
	w.str("PayloadDescription", h.PayloadDescription)
	w.str("PayloadDisplayName", h.PayloadDisplayName)
	w.str("PayloadIdentifier", h.PayloadIdentifier)
	w.str("PayloadOrganization", h.PayloadOrganization)
	w.strAlways("PayloadType", typ)
	w.str("PayloadUUID", h.PayloadUUID)
	w.integer("PayloadVersion", h.PayloadVersion)
}

func (h *Header) read(r *dictReader) {
	r.used["PayloadType"] = true
	h.PayloadIdentifier = r.str("PayloadIdentifier")
	h.PayloadUUID = r.str("PayloadUUID")
	h.PayloadVersion = r.integer("PayloadVersion")
	h.PayloadDisplayName = r.str("PayloadDisplayName")
	h.PayloadDescription = r.str("PayloadDescription")
	h.PayloadOrganization = r.str("PayloadOrganization")
}

// AccessRights is the MDM payload's bit set of what the server may do. It
// applies to device enrollment only; user enrollment profiles must leave
// it zero (absent).
type AccessRights int

// Access rights bits, as Apple numbers them.
const (
	RightInspectProfiles            AccessRights = 1
	RightInstallRemoveProfiles      AccessRights = 2
	RightDeviceLock                 AccessRights = 4
	RightDeviceErase                AccessRights = 8
	RightQueryDeviceInformation     AccessRights = 16
	RightQueryNetworkInformation    AccessRights = 32
	RightInspectProvisioningProfile AccessRights = 64
	RightInstallProvisioningProfile AccessRights = 128
	RightInspectApplications        AccessRights = 256
	RightRestrictionQueries         AccessRights = 512
	RightSecurityQueries            AccessRights = 1024
	RightManipulateSettings         AccessRights = 2048
	RightAppManagement              AccessRights = 4096

	// AllRights is every right: 8191.
	AllRights AccessRights = 8191
)

// EnrollmentMode is the MDM payload's EnrollmentMode, used by
// account-driven enrollment.
type EnrollmentMode string

// Enrollment modes.
const (
	// ModeBYOD is account-driven User Enrollment of a personal device.
	ModeBYOD EnrollmentMode = "BYOD"
	// ModeADDE is account-driven Device Enrollment (iOS 17+).
	ModeADDE EnrollmentMode = "ADDE"
)

// Server capabilities an MDM server may announce.
const (
	CapabilityPerUserConnections = "com.apple.mdm.per-user-connections"
	CapabilityBootstrapToken     = "com.apple.mdm.bootstraptoken"
	CapabilityToken              = "com.apple.mdm.token"
)

// MDM is the com.apple.mdm payload that enrolls the device.
type MDM struct {
	Header
	// IdentityCertificateUUID is the PayloadUUID of the SCEP, ACME or
	// PKCS#12 payload whose identity the device uses.
	IdentityCertificateUUID string
	// Topic is the push certificate's topic; it starts with TopicPrefix.
	Topic string
	// ServerURL receives command results and hands out commands.
	ServerURL string
	// CheckInURL receives check-in messages; empty means ServerURL.
	CheckInURL string
	// SignMessage makes the device sign every request (Mdm-Signature).
	SignMessage bool
	// AccessRights is required for device enrollment and must be zero for
	// user enrollment.
	AccessRights AccessRights
	// UseDevelopmentAPNS selects the APNs sandbox.
	UseDevelopmentAPNS bool
	// ManagedAppleID marks a profile-based User Enrollment (iOS 13–17).
	ManagedAppleID string
	// AssignedManagedAppleID is the account of an account-driven enrollment.
	AssignedManagedAppleID string
	// EnrollmentMode is BYOD or ADDE for account-driven enrollment.
	EnrollmentMode EnrollmentMode
	// ServerURLPinningCertificateUUIDs and CheckInURLPinningCertificateUUIDs
	// name certificate payloads the device pins when it connects.
	ServerURLPinningCertificateUUIDs  []string
	CheckInURLPinningCertificateUUIDs []string
	// PinningRevocationCheckRequired makes revocation checks of pinned
	// certificates mandatory.
	PinningRevocationCheckRequired bool
	// ServerCapabilities lists Capability… strings.
	ServerCapabilities []string
	// CheckOutWhenRemoved makes the device send CheckOut on removal.
	CheckOutWhenRemoved bool
	// RequiredAppIDForMDM is an App Store ID installable without approval
	// (account-driven enrollment only).
	RequiredAppIDForMDM int
	// PromptUserToAllowBootstrapTokenForAuthentication is macOS-only.
	PromptUserToAllowBootstrapTokenForAuthentication bool
	// Extra holds keys this type does not model, written back unchanged.
	Extra map[string]any
}

// Type returns TypeMDM.
func (*MDM) Type() string { return TypeMDM }

func (p *MDM) toDict() dict {
	w := newDict(p.Extra)
	w.integer("AccessRights", int(p.AccessRights))
	w.str("AssignedManagedAppleID", p.AssignedManagedAppleID)
	w.str("CheckInURL", p.CheckInURL)
	w.strings("CheckInURLPinningCertificateUUIDs", p.CheckInURLPinningCertificateUUIDs)
	w.boolean("CheckOutWhenRemoved", p.CheckOutWhenRemoved)
	w.str("EnrollmentMode", string(p.EnrollmentMode))
	w.str("IdentityCertificateUUID", p.IdentityCertificateUUID)
	w.str("ManagedAppleID", p.ManagedAppleID)
	p.Header.write(w, TypeMDM)
	w.boolean("PinningRevocationCheckRequired", p.PinningRevocationCheckRequired)
	w.boolean("PromptUserToAllowBootstrapTokenForAuthentication", p.PromptUserToAllowBootstrapTokenForAuthentication)
	w.integer("RequiredAppIDForMDM", p.RequiredAppIDForMDM)
	w.strings("ServerCapabilities", p.ServerCapabilities)
	w.str("ServerURL", p.ServerURL)
	w.strings("ServerURLPinningCertificateUUIDs", p.ServerURLPinningCertificateUUIDs)
	w.boolean("SignMessage", p.SignMessage)
	w.str("Topic", p.Topic)
	w.boolean("UseDevelopmentAPNS", p.UseDevelopmentAPNS)
	return w
}

func (p *MDM) read(r *dictReader) {
	p.Header.read(r)
	p.IdentityCertificateUUID = r.str("IdentityCertificateUUID")
	p.Topic = r.str("Topic")
	p.ServerURL = r.str("ServerURL")
	p.CheckInURL = r.str("CheckInURL")
	p.SignMessage = r.boolean("SignMessage")
	p.AccessRights = AccessRights(r.integer("AccessRights"))
	p.UseDevelopmentAPNS = r.boolean("UseDevelopmentAPNS")
	p.ManagedAppleID = r.str("ManagedAppleID")
	p.AssignedManagedAppleID = r.str("AssignedManagedAppleID")
	p.EnrollmentMode = EnrollmentMode(r.str("EnrollmentMode"))
	p.ServerURLPinningCertificateUUIDs = r.strings("ServerURLPinningCertificateUUIDs")
	p.CheckInURLPinningCertificateUUIDs = r.strings("CheckInURLPinningCertificateUUIDs")
	p.PinningRevocationCheckRequired = r.boolean("PinningRevocationCheckRequired")
	p.ServerCapabilities = r.strings("ServerCapabilities")
	p.CheckOutWhenRemoved = r.boolean("CheckOutWhenRemoved")
	p.RequiredAppIDForMDM = r.integer("RequiredAppIDForMDM")
	p.PromptUserToAllowBootstrapTokenForAuthentication = r.boolean("PromptUserToAllowBootstrapTokenForAuthentication")
	p.Extra = r.extra()
}

// Subject is an X.500 name in Apple's form: a sequence of relative
// distinguished names, each a set of attributes.
type Subject [][]Attribute

// Attribute is one type/value pair of a Subject. Type is a dotted OID or
// one of the shortcuts C, L, ST, O, OU, CN.
type Attribute struct {
	// Type is the attribute type, Value its value.
	Type, Value string
}

// CommonName returns a Subject of one CN attribute.
func CommonName(cn string) Subject { return Subject{{{Type: "CN", Value: cn}}} }

// SubjectAltName holds the alternative names requested for a certificate.
// A name list of length one is written as a single string.
type SubjectAltName struct {
	RFC822Name      []string // rfc822Name
	DNSName         []string // dNSName
	URI             []string // uniformResourceIdentifier
	NTPrincipalName []string // ntPrincipalName
	// Extra holds keys this type does not model, written back unchanged.
	Extra map[string]any
}

// SCEP is the com.apple.security.scep payload: the device obtains its
// identity from a SCEP server. The fields are the payload's inner
// PayloadContent dictionary.
type SCEP struct {
	Header
	// URL is the SCEP server. Required.
	URL string
	// Name selects a CA when the server has several.
	Name string
	// Subject is the requested certificate's subject.
	Subject Subject
	// Challenge is the one-time password the SCEP server expects.
	Challenge string
	// Keysize is the RSA key size in bits (1024, 2048, 4096); zero leaves
	// the device default (1024).
	Keysize int
	// KeyType is written as "Key Type"; Apple allows only "RSA".
	KeyType string
	// KeyUsage is written as "Key Usage": 1 signing, 4 encryption.
	KeyUsage int
	// CAFingerprint is the digest of the CA certificate.
	CAFingerprint []byte
	// Retries and RetryDelay (seconds) tune PENDING handling; nil leaves
	// the device defaults (3 and 10).
	Retries    *int
	RetryDelay *int
	// SubjectAltName lists names requested for the certificate.
	SubjectAltName *SubjectAltName
	// KeyIsExtractable (default true) and AllowAllAppsAccess are macOS keys.
	KeyIsExtractable   *bool
	AllowAllAppsAccess bool
	// Extra holds inner keys this type does not model; OuterExtra holds
	// unmodelled keys of the payload dictionary itself.
	Extra, OuterExtra map[string]any
}

// Type returns TypeSCEP.
func (*SCEP) Type() string { return TypeSCEP }

func (p *SCEP) toDict() dict {
	in := newDict(p.Extra)
	in.boolean("AllowAllAppsAccess", p.AllowAllAppsAccess)
	in.data("CAFingerprint", p.CAFingerprint)
	in.str("Challenge", p.Challenge)
	in.str("Key Type", p.KeyType)
	in.integer("Key Usage", p.KeyUsage)
	in.boolPtr("KeyIsExtractable", p.KeyIsExtractable)
	in.integer("Keysize", p.Keysize)
	in.str("Name", p.Name)
	in.intPtr("Retries", p.Retries)
	in.intPtr("RetryDelay", p.RetryDelay)
	in.subject("Subject", p.Subject)
	in.subjectAltName("SubjectAltName", p.SubjectAltName)
	in.str("URL", p.URL)
	w := newDict(p.OuterExtra)
	w.set("PayloadContent", in)
	p.Header.write(w, TypeSCEP)
	return w
}

func (p *SCEP) read(r *dictReader) {
	p.Header.read(r)
	in := r.dict("PayloadContent")
	p.OuterExtra = r.extra()
	if in == nil {
		return
	}
	ir := newReader(in, r.field("PayloadContent"))
	p.URL = ir.str("URL")
	p.Name = ir.str("Name")
	p.Subject = ir.subject("Subject")
	p.Challenge = ir.str("Challenge")
	p.Keysize = ir.integer("Keysize")
	p.KeyType = ir.str("Key Type")
	p.KeyUsage = ir.integer("Key Usage")
	p.CAFingerprint = ir.data("CAFingerprint")
	p.Retries = ir.intPtr("Retries")
	p.RetryDelay = ir.intPtr("RetryDelay")
	p.SubjectAltName = ir.subjectAltName("SubjectAltName")
	p.KeyIsExtractable = ir.boolPtr("KeyIsExtractable")
	p.AllowAllAppsAccess = ir.boolean("AllowAllAppsAccess")
	p.Extra = ir.extra()
	if r.err == nil {
		r.err = ir.err
	}
}

// ACME key types.
const (
	KeyTypeRSA = "RSA"
	KeyTypeEC  = "ECSECPrimeRandom"
)

// ACME is the com.apple.security.acme payload (iOS 16+): the device
// obtains its identity from an ACME server, optionally with a
// hardware-bound key and attestation.
type ACME struct {
	Header
	// DirectoryURL is the ACME directory (https). Required.
	DirectoryURL string
	// ClientIdentifier identifies this device to the ACME server, which
	// may use it against replay. Required.
	ClientIdentifier string
	// KeySize is RSA 1024–4096 (multiple of 8) or an EC curve size (192,
	// 256, 384, 521); hardware-bound keys are EC 256 or 384.
	KeySize int
	// KeyType is KeyTypeRSA or KeyTypeEC.
	KeyType string
	// HardwareBound puts the key in the Secure Enclave. Always written.
	HardwareBound bool
	// Subject is the requested certificate's subject. Required.
	Subject Subject
	// SubjectAltName lists names requested for the certificate.
	SubjectAltName *SubjectAltName
	// UsageFlags: 1 digital signature, 4 encryption.
	UsageFlags int
	// ExtendedKeyUsage lists dotted OIDs.
	ExtendedKeyUsage []string
	// Attest asks for device attestation; it requires HardwareBound.
	Attest bool
	// KeyIsExtractable (default true) and AllowAllAppsAccess are macOS keys.
	KeyIsExtractable   *bool
	AllowAllAppsAccess bool
	// Extra holds keys this type does not model, written back unchanged.
	Extra map[string]any
}

// Type returns TypeACME.
func (*ACME) Type() string { return TypeACME }

func (p *ACME) toDict() dict {
	w := newDict(p.Extra)
	p.Header.write(w, TypeACME)
	w.str("DirectoryURL", p.DirectoryURL)
	w.str("ClientIdentifier", p.ClientIdentifier)
	w.integer("KeySize", p.KeySize)
	w.str("KeyType", p.KeyType)
	w.set("HardwareBound", p.HardwareBound)
	w.subject("Subject", p.Subject)
	w.subjectAltName("SubjectAltName", p.SubjectAltName)
	w.integer("UsageFlags", p.UsageFlags)
	w.strings("ExtendedKeyUsage", p.ExtendedKeyUsage)
	w.boolean("Attest", p.Attest)
	w.boolPtr("KeyIsExtractable", p.KeyIsExtractable)
	w.boolean("AllowAllAppsAccess", p.AllowAllAppsAccess)
	return w
}

func (p *ACME) read(r *dictReader) {
	p.Header.read(r)
	p.DirectoryURL = r.str("DirectoryURL")
	p.ClientIdentifier = r.str("ClientIdentifier")
	p.KeySize = r.integer("KeySize")
	p.KeyType = r.str("KeyType")
	p.HardwareBound = r.boolean("HardwareBound")
	p.Subject = r.subject("Subject")
	p.SubjectAltName = r.subjectAltName("SubjectAltName")
	p.UsageFlags = r.integer("UsageFlags")
	p.ExtendedKeyUsage = r.strings("ExtendedKeyUsage")
	p.Attest = r.boolean("Attest")
	p.KeyIsExtractable = r.boolPtr("KeyIsExtractable")
	p.AllowAllAppsAccess = r.boolean("AllowAllAppsAccess")
	p.Extra = r.extra()
}

// PKCS12 is the com.apple.security.pkcs12 payload: an identity (key and
// certificate) delivered inside the profile.
type PKCS12 struct {
	Header
	// PayloadCertificateFileName is the file name shown to the user.
	PayloadCertificateFileName string
	// Content is the PKCS#12 file (written as PayloadContent).
	Content []byte
	// Password opens Content; empty lets the device ask the user.
	Password string
	// KeyIsExtractable (default true) and AllowAllAppsAccess are macOS keys.
	KeyIsExtractable   *bool
	AllowAllAppsAccess bool
	// Extra holds keys this type does not model, written back unchanged.
	Extra map[string]any
}

// Type returns TypePKCS12.
func (*PKCS12) Type() string { return TypePKCS12 }

func (p *PKCS12) toDict() dict {
	w := newDict(p.Extra)
	p.Header.write(w, TypePKCS12)
	w.str("PayloadCertificateFileName", p.PayloadCertificateFileName)
	w.data("PayloadContent", p.Content)
	w.str("Password", p.Password)
	w.boolPtr("KeyIsExtractable", p.KeyIsExtractable)
	w.boolean("AllowAllAppsAccess", p.AllowAllAppsAccess)
	return w
}

func (p *PKCS12) read(r *dictReader) {
	p.Header.read(r)
	p.PayloadCertificateFileName = r.str("PayloadCertificateFileName")
	p.Content = r.data("PayloadContent")
	p.Password = r.str("Password")
	p.KeyIsExtractable = r.boolPtr("KeyIsExtractable")
	p.AllowAllAppsAccess = r.boolean("AllowAllAppsAccess")
	p.Extra = r.extra()
}

// Certificate holds what the root and PEM certificate payloads share.
type Certificate struct {
	Header
	// PayloadCertificateFileName is the file name shown to the user.
	PayloadCertificateFileName string
	// Content is the certificate (DER for Root, PEM text for PEM), written
	// as PayloadContent.
	Content []byte
	// Extra holds keys this type does not model, written back unchanged.
	Extra map[string]any
}

func (p *Certificate) toDictAs(typ string) dict {
	w := newDict(p.Extra)
	p.Header.write(w, typ)
	w.str("PayloadCertificateFileName", p.PayloadCertificateFileName)
	w.data("PayloadContent", p.Content)
	return w
}

func (p *Certificate) read(r *dictReader) {
	p.Header.read(r)
	p.PayloadCertificateFileName = r.str("PayloadCertificateFileName")
	p.Content = r.data("PayloadContent")
	p.Extra = r.extra()
}

// Root is the com.apple.security.root payload: a DER certificate the
// device trusts as an anchor.
type Root struct{ Certificate }

// Type returns TypeRoot.
func (*Root) Type() string { return TypeRoot }

func (p *Root) toDict() dict { return p.toDictAs(TypeRoot) }

// PEM is the com.apple.security.pem payload: a PEM-encoded certificate.
type PEM struct{ Certificate }

// Type returns TypePEM.
func (*PEM) Type() string { return TypePEM }

func (p *PEM) toDict() dict { return p.toDictAs(TypePEM) }

// Generic is any payload type this package does not model. Everything but
// the header is kept in Content exactly as decoded and written back
// unchanged.
type Generic struct {
	Header
	// PayloadType is the payload's type.
	PayloadType string
	// Content holds every other key of the payload dictionary.
	Content map[string]any
}

// Type returns g.PayloadType.
func (g *Generic) Type() string { return g.PayloadType }

func (g *Generic) toDict() dict {
	w := newDict(g.Content)
	g.Header.write(w, g.PayloadType)
	return w
}

// isIdentity reports whether p can be named by IdentityCertificateUUID.
func isIdentity(p Payload) bool {
	switch p.(type) {
	case *SCEP, *ACME, *PKCS12:
		return true
	}
	return false
}

// isCertificate reports whether p can be named by a pinning UUID.
func isCertificate(p Payload) bool {
	switch p.(type) {
	case *Root, *PEM, *PKCS12:
		return true
	}
	return false
}

func itemPath(i int) string { return "PayloadContent[" + strconv.Itoa(i) + "]" }

// MDM returns the profile's first com.apple.mdm payload, or nil.
func (p *Profile) MDM() *MDM {
	for _, pl := range p.Payloads {
		if m, ok := pl.(*MDM); ok {
			return m
		}
	}
	return nil
}

// Payload returns the payload whose PayloadUUID is uuid, or nil.
func (p *Profile) Payload(uuid string) Payload {
	for _, pl := range p.Payloads {
		if pl.PayloadHeader().PayloadUUID == uuid {
			return pl
		}
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }
