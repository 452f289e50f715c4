package devicesim

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.mozilla.org/pkcs7"
	"howett.net/plist"
)

// ProfileInfo is what the device reads from an enrollment profile.
type ProfileInfo struct {
	// Identifier, UUID, DisplayName and Organization are the top-level
	// payload keys of those names.
	Identifier   string
	UUID         string
	DisplayName  string
	Organization string
	// Signers are the certificates of the profile's CMS signature, signer
	// first.
	Signers []*x509.Certificate

	// ServerURL, CheckInURL (ServerURL when absent), Topic, SignMessage,
	// CheckOutWhenRemoved, ManagedAppleID (or AssignedManagedAppleID) and
	// EnrollmentMode come from the com.apple.mdm payload.
	ServerURL           string
	CheckInURL          string
	Topic               string
	SignMessage         bool
	CheckOutWhenRemoved bool
	ManagedAppleID      string
	EnrollmentMode      string
	// SCEP is the identity payload the MDM payload names.
	SCEP SCEPPayload

	raw     []byte         // the signed profile as served
	content map[string]any // the decoded plist
}

// SCEPPayload is the content of a com.apple.security.scep payload.
type SCEPPayload struct {
	URL       string
	Name      string
	Challenge string
	// Subject is the X.509 subject as Apple writes it: RDNs, each a list of
	// [type, value] pairs; types are short names (CN, O, OU, C, L, ST) or
	// dotted OIDs.
	Subject [][][]string
	// Keysize is the RSA key size in bits (1024 when absent, as on iOS).
	Keysize int
	// Retries is the number of times to poll a PENDING request.
	Retries int
}

// ParseProfile verifies a signed enrollment profile and reads what the
// device needs from it. roots, if not nil, is the pool the signer must
// chain to; otherwise only the signature itself is checked. It checks the
// keys iOS checks for a User Enrollment: a Configuration profile with one
// com.apple.mdm payload naming a SCEP identity payload, a ManagedAppleID
// (profile-based) or AssignedManagedAppleID with EnrollmentMode BYOD
// (account-driven), and no AccessRights under BYOD. Every refusal is a
// *ProfileError.
func ParseProfile(raw []byte, roots *x509.CertPool) (*ProfileInfo, error) {
	p7, err := pkcs7.Parse(raw)
	if err != nil {
		return nil, &ProfileError{Reason: "not a CMS signed profile", Err: err}
	}
	if len(p7.Signers) == 0 {
		return nil, &ProfileError{Reason: "profile is not signed"}
	}
	if err := p7.VerifyWithChain(roots); err != nil {
		return nil, &ProfileError{Reason: "signature does not verify", Err: err}
	}
	info := &ProfileInfo{raw: raw}
	if s := p7.GetOnlySigner(); s != nil {
		info.Signers = append(info.Signers, s)
	}
	for _, c := range p7.Certificates {
		if len(info.Signers) == 0 || !c.Equal(info.Signers[0]) {
			info.Signers = append(info.Signers, c)
		}
	}
	if err := info.parse(p7.Content); err != nil {
		return nil, err
	}
	return info, nil
}

func (info *ProfileInfo) parse(content []byte) error {
	var top map[string]any
	if _, err := plist.Unmarshal(content, &top); err != nil {
		return &ProfileError{Reason: "content is not a property list", Err: err}
	}
	info.content = top
	if t := str(top, "PayloadType"); t != "Configuration" {
		return &ProfileError{Reason: fmt.Sprintf("PayloadType is %q, want Configuration", t)}
	}
	if v, ok := integer(top, "PayloadVersion"); !ok || v != 1 {
		return &ProfileError{Reason: "PayloadVersion is not 1"}
	}
	info.Identifier, info.UUID = str(top, "PayloadIdentifier"), str(top, "PayloadUUID")
	info.DisplayName, info.Organization = str(top, "PayloadDisplayName"), str(top, "PayloadOrganization")
	if info.Identifier == "" || info.UUID == "" {
		return &ProfileError{Reason: "PayloadIdentifier or PayloadUUID missing"}
	}
	payloads, ok := top["PayloadContent"].([]any)
	if !ok || len(payloads) == 0 {
		return &ProfileError{Reason: "PayloadContent missing or empty"}
	}
	var mdmPayload map[string]any
	byUUID := map[string]map[string]any{}
	for _, p := range payloads {
		m, ok := p.(map[string]any)
		if !ok {
			return &ProfileError{Reason: "PayloadContent holds a non-dictionary"}
		}
		if str(m, "PayloadUUID") == "" || str(m, "PayloadType") == "" || str(m, "PayloadIdentifier") == "" {
			return &ProfileError{Reason: "a payload lacks PayloadType, PayloadIdentifier or PayloadUUID"}
		}
		byUUID[str(m, "PayloadUUID")] = m
		if str(m, "PayloadType") == "com.apple.mdm" {
			if mdmPayload != nil {
				return &ProfileError{Reason: "more than one com.apple.mdm payload"}
			}
			mdmPayload = m
		}
	}
	if mdmPayload == nil {
		return &ProfileError{Reason: "no com.apple.mdm payload"}
	}
	m := mdmPayload
	info.ServerURL, info.CheckInURL, info.Topic = str(m, "ServerURL"), str(m, "CheckInURL"), str(m, "Topic")
	info.SignMessage, info.CheckOutWhenRemoved = boolean(m, "SignMessage"), boolean(m, "CheckOutWhenRemoved")
	if info.CheckInURL == "" {
		info.CheckInURL = info.ServerURL
	}
	for _, u := range []string{info.ServerURL, info.CheckInURL} {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return &ProfileError{Reason: fmt.Sprintf("ServerURL/CheckInURL %q is not an http(s) URL", u)}
		}
	}
	if !strings.HasPrefix(info.Topic, "com.apple.mgmt.") {
		return &ProfileError{Reason: fmt.Sprintf("Topic %q does not start with com.apple.mgmt.", info.Topic)}
	}
	info.EnrollmentMode = str(m, "EnrollmentMode")
	switch {
	case info.EnrollmentMode == "BYOD":
		info.ManagedAppleID = str(m, "AssignedManagedAppleID")
		if info.ManagedAppleID == "" {
			return &ProfileError{Reason: "EnrollmentMode BYOD without AssignedManagedAppleID"}
		}
		if _, ok := m["AccessRights"]; ok {
			return &ProfileError{Reason: "AccessRights present with EnrollmentMode BYOD"}
		}
	case info.EnrollmentMode != "":
		return &ProfileError{Reason: fmt.Sprintf("EnrollmentMode %q is not a User Enrollment", info.EnrollmentMode)}
	default:
		info.ManagedAppleID = str(m, "ManagedAppleID")
		if info.ManagedAppleID == "" {
			return &ProfileError{Reason: "neither ManagedAppleID nor EnrollmentMode: not a User Enrollment profile"}
		}
	}
	idUUID := str(m, "IdentityCertificateUUID")
	id, ok := byUUID[idUUID]
	if idUUID == "" || !ok {
		return &ProfileError{Reason: "IdentityCertificateUUID names no payload of the profile"}
	}
	switch t := str(id, "PayloadType"); t {
	case "com.apple.security.scep":
	default:
		return &ProfileError{Reason: fmt.Sprintf("identity payload %s is not supported (SCEP only)", t)}
	}
	sc, ok := id["PayloadContent"].(map[string]any)
	if !ok {
		return &ProfileError{Reason: "SCEP payload has no PayloadContent dictionary"}
	}
	info.SCEP = SCEPPayload{URL: str(sc, "URL"), Name: str(sc, "Name"), Challenge: str(sc, "Challenge"), Keysize: 1024}
	if k, ok := integer(sc, "Keysize"); ok {
		info.SCEP.Keysize = int(k)
	}
	if r, ok := integer(sc, "Retries"); ok {
		info.SCEP.Retries = int(r)
	}
	switch info.SCEP.Keysize {
	case 1024, 2048, 4096:
	default:
		return &ProfileError{Reason: fmt.Sprintf("SCEP Keysize %d is not 1024, 2048 or 4096", info.SCEP.Keysize)}
	}
	if pu, err := url.Parse(info.SCEP.URL); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
		return &ProfileError{Reason: fmt.Sprintf("SCEP URL %q is not an http(s) URL", info.SCEP.URL)}
	}
	if subj, ok := sc["Subject"]; ok {
		s, err := parseSubject(subj)
		if err != nil {
			return &ProfileError{Reason: "SCEP Subject", Err: err}
		}
		info.SCEP.Subject = s
	}
	return nil
}

// parseSubject converts a decoded plist Subject into [][][]string.
func parseSubject(v any) ([][][]string, error) {
	rdns, ok := v.([]any)
	if !ok {
		return nil, errors.New("not an array")
	}
	var out [][][]string
	for _, r := range rdns {
		pairs, ok := r.([]any)
		if !ok {
			return nil, errors.New("RDN is not an array")
		}
		var rdn [][]string
		for _, p := range pairs {
			pair, ok := p.([]any)
			if !ok || len(pair) != 2 {
				return nil, errors.New("attribute is not a [type, value] pair")
			}
			t, ok1 := pair[0].(string)
			val, ok2 := pair[1].(string)
			if !ok1 || !ok2 {
				return nil, errors.New("attribute type or value is not a string")
			}
			rdn = append(rdn, []string{t, val})
		}
		out = append(out, rdn)
	}
	return out, nil
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func boolean(m map[string]any, k string) bool { b, _ := m[k].(bool); return b }

func integer(m map[string]any, k string) (int64, bool) {
	switch v := m[k].(type) {
	case uint64:
		return int64(v), true
	case int64:
		return v, true
	case int:
		return int64(v), true
	}
	return 0, false
}
