package profile_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/profile"
)

func TestValidate(t *testing.T) {
	// Each case breaks one rule of an otherwise valid profile.
	tests := []struct {
		name  string
		build func() (*profile.Profile, error)
		field string
		want  error
	}{
		{"access rights with BYOD", func() (*profile.Profile, error) {
			p := testProfileNoErr()
			p.MDM().AccessRights = profile.AllRights
			return p, p.Validate(profile.ValidateOptions{})
		}, "PayloadContent[0].AccessRights", profile.ErrAccessRightsForbidden},
		{"access rights with ManagedAppleID", func() (*profile.Profile, error) {
			p, err := profile.NewUserEnrollment(testEnrollment(), "jane@example.com")
			if err != nil {
				return nil, err
			}
			p.MDM().AccessRights = profile.RightInspectProfiles
			return p, p.Validate(profile.ValidateOptions{})
		}, "PayloadContent[0].AccessRights", profile.ErrAccessRightsForbidden},
		{"device without access rights", func() (*profile.Profile, error) {
			return profile.NewDeviceEnrollment(testEnrollment(), 0)
		}, "PayloadContent[0].AccessRights", profile.ErrAccessRightsRequired},
		{"ADDE without access rights", func() (*profile.Profile, error) {
			p := testProfileNoErr()
			p.MDM().EnrollmentMode = profile.ModeADDE
			return p, p.Validate(profile.ValidateOptions{})
		}, "PayloadContent[0].AccessRights", profile.ErrAccessRightsRequired},
		{"access rights out of range", func() (*profile.Profile, error) {
			return profile.NewDeviceEnrollment(testEnrollment(), -1)
		}, "PayloadContent[0].AccessRights", profile.ErrInvalidValue},
		{"install profiles without inspect", func() (*profile.Profile, error) {
			return profile.NewDeviceEnrollment(testEnrollment(), profile.RightInstallRemoveProfiles)
		}, "PayloadContent[0].AccessRights", profile.ErrInvalidValue},
		{"install provisioning without inspect", func() (*profile.Profile, error) {
			return profile.NewDeviceEnrollment(testEnrollment(), profile.RightInstallProvisioningProfile)
		}, "PayloadContent[0].AccessRights", profile.ErrInvalidValue},
		{"topic prefix", func() (*profile.Profile, error) {
			e := testEnrollment()
			e.Topic = "com.example.push"
			return profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
		}, "PayloadContent[0].Topic", profile.ErrTopic},
		{"no topic", func() (*profile.Profile, error) {
			e := testEnrollment()
			e.Topic = ""
			return profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
		}, "PayloadContent[0].Topic", profile.ErrMissing},
		{"no identity", func() (*profile.Profile, error) {
			e := testEnrollment()
			e.Identity = nil
			return profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
		}, "PayloadContent[0].IdentityCertificateUUID", profile.ErrMissing},
		{"identity UUID names a root", func() (*profile.Profile, error) {
			e := testEnrollment()
			e.Certificates = []profile.Payload{&profile.Root{Certificate: profile.Certificate{Content: fixedCertDER(t)}}}
			p, err := profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
			if err != nil {
				return nil, err
			}
			p.MDM().IdentityCertificateUUID = p.Payloads[2].PayloadHeader().PayloadUUID
			return p, p.Validate(profile.ValidateOptions{})
		}, "PayloadContent[0].IdentityCertificateUUID", profile.ErrNoIdentity},
		{"pinning UUID names nothing", func() (*profile.Profile, error) {
			p := testProfileNoErr()
			p.MDM().ServerURLPinningCertificateUUIDs = []string{"00000000-0000-0000-0000-000000000000"}
			return p, p.Validate(profile.ValidateOptions{})
		}, "PayloadContent[0].ServerURLPinningCertificateUUIDs[0]", profile.ErrNoCertificate},
		{"http server URL", func() (*profile.Profile, error) {
			e := testEnrollment()
			e.ServerURL = "http://mdm.example.com/mdm"
			return profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
		}, "PayloadContent[0].ServerURL", profile.ErrInsecureURL},
		{"http check-in URL", func() (*profile.Profile, error) {
			e := testEnrollment()
			e.CheckInURL = "http://mdm.example.com/checkin"
			return profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
		}, "PayloadContent[0].CheckInURL", profile.ErrInsecureURL},
		{"relative URL", func() (*profile.Profile, error) {
			e := testEnrollment()
			e.ServerURL = "/mdm"
			return profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
		}, "PayloadContent[0].ServerURL", profile.ErrInvalidValue},
		{"duplicate UUID", func() (*profile.Profile, error) {
			p := testProfileNoErr()
			p.Payloads[1].PayloadHeader().PayloadUUID = p.Payloads[0].PayloadHeader().PayloadUUID
			return p, p.Validate(profile.ValidateOptions{})
		}, "PayloadContent[1].PayloadUUID", profile.ErrDuplicateUUID},
		{"payload UUID equals profile UUID", func() (*profile.Profile, error) {
			p := testProfileNoErr()
			p.Payloads[0].PayloadHeader().PayloadUUID = p.PayloadUUID
			return p, p.Validate(profile.ValidateOptions{})
		}, "PayloadContent[0].PayloadUUID", profile.ErrDuplicateUUID},
		{"duplicate identifier", func() (*profile.Profile, error) {
			p := testProfileNoErr()
			p.Payloads[1].PayloadHeader().PayloadIdentifier = p.Payloads[0].PayloadHeader().PayloadIdentifier
			return p, p.Validate(profile.ValidateOptions{})
		}, "PayloadContent[1].PayloadIdentifier", profile.ErrDuplicateIdentifier},
		{"empty profile identifier", func() (*profile.Profile, error) {
			e := testEnrollment()
			e.Identifier = ""
			return profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
		}, "PayloadIdentifier", profile.ErrMissing},
		{"empty payload identifier", func() (*profile.Profile, error) {
			p := testProfileNoErr()
			p.Payloads[1].PayloadHeader().PayloadIdentifier = ""
			return p, p.Validate(profile.ValidateOptions{})
		}, "PayloadContent[1].PayloadIdentifier", profile.ErrMissing},
		{"two MDM payloads", func() (*profile.Profile, error) {
			p := testProfileNoErr()
			m := *p.MDM()
			m.PayloadUUID, m.PayloadIdentifier = "X", "x"
			p.Payloads = append(p.Payloads, &m)
			return p, p.Validate(profile.ValidateOptions{})
		}, "PayloadContent[2]", profile.ErrMultipleMDM},
		{"no managed Apple ID", func() (*profile.Profile, error) {
			return profile.NewUserEnrollment(testEnrollment(), "")
		}, "PayloadContent[0].ManagedAppleID", profile.ErrMissing},
		{"no assigned managed Apple ID", func() (*profile.Profile, error) {
			return profile.NewAccountDrivenUserEnrollment(testEnrollment(), "")
		}, "PayloadContent[0].AssignedManagedAppleID", profile.ErrMissing},
		{"ManagedAppleID with BYOD", func() (*profile.Profile, error) {
			p := testProfileNoErr()
			p.MDM().ManagedAppleID = "jane@example.com"
			return p, p.Validate(profile.ValidateOptions{})
		}, "PayloadContent[0].ManagedAppleID", profile.ErrInvalidValue},
		{"unknown enrollment mode", func() (*profile.Profile, error) {
			p := testProfileNoErr()
			p.MDM().EnrollmentMode = "Personal"
			return p, p.Validate(profile.ValidateOptions{})
		}, "PayloadContent[0].EnrollmentMode", profile.ErrInvalidValue},
		{"assigned ID without mode", func() (*profile.Profile, error) {
			p, err := profile.NewDeviceEnrollment(testEnrollment(), profile.AllRights)
			if err != nil {
				return nil, err
			}
			p.MDM().AssignedManagedAppleID = "jane@example.com"
			return p, p.Validate(profile.ValidateOptions{})
		}, "PayloadContent[0].EnrollmentMode", profile.ErrMissing},
		{"unknown capability", func() (*profile.Profile, error) {
			e := testEnrollment()
			e.ServerCapabilities = []string{"com.apple.mdm.everything"}
			return profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
		}, "PayloadContent[0].ServerCapabilities[0]", profile.ErrInvalidValue},
		{"bad scope", func() (*profile.Profile, error) {
			p := testProfileNoErr()
			p.PayloadScope = "Everywhere"
			return p, p.Validate(profile.ValidateOptions{})
		}, "PayloadScope", profile.ErrInvalidValue},
		{"scep without URL", func() (*profile.Profile, error) {
			e := testEnrollment()
			e.Identity = &profile.SCEP{}
			return profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
		}, "PayloadContent[1].PayloadContent.URL", profile.ErrMissing},
		{"scep key size", func() (*profile.Profile, error) {
			return withSCEP(func(s *profile.SCEP) { s.Keysize = 3000 })
		}, "PayloadContent[1].PayloadContent.Keysize", profile.ErrInvalidValue},
		{"scep key type", func() (*profile.Profile, error) {
			return withSCEP(func(s *profile.SCEP) { s.KeyType = "EC" })
		}, "PayloadContent[1].PayloadContent.Key Type", profile.ErrInvalidValue},
		{"scep key usage", func() (*profile.Profile, error) {
			return withSCEP(func(s *profile.SCEP) { s.KeyUsage = 2 })
		}, "PayloadContent[1].PayloadContent.Key Usage", profile.ErrInvalidValue},
		{"scep retries", func() (*profile.Profile, error) {
			return withSCEP(func(s *profile.SCEP) { s.Retries = intPtr(-1) })
		}, "PayloadContent[1].PayloadContent.Retries", profile.ErrInvalidValue},
		{"scep retry delay", func() (*profile.Profile, error) {
			return withSCEP(func(s *profile.SCEP) { s.RetryDelay = intPtr(-1) })
		}, "PayloadContent[1].PayloadContent.RetryDelay", profile.ErrInvalidValue},
		{"scep subject", func() (*profile.Profile, error) {
			return withSCEP(func(s *profile.SCEP) { s.Subject = profile.CommonName("") })
		}, "PayloadContent[1].PayloadContent.Subject[0][0]", profile.ErrMissing},
		{"acme http directory", func() (*profile.Profile, error) {
			return withACME(func(a *profile.ACME) { a.DirectoryURL = "http://acme.example.com/dir" })
		}, "PayloadContent[1].DirectoryURL", profile.ErrInsecureURL},
		{"acme no client identifier", func() (*profile.Profile, error) {
			return withACME(func(a *profile.ACME) { a.ClientIdentifier = "" })
		}, "PayloadContent[1].ClientIdentifier", profile.ErrMissing},
		{"acme no subject", func() (*profile.Profile, error) {
			return withACME(func(a *profile.ACME) { a.Subject = nil })
		}, "PayloadContent[1].Subject", profile.ErrMissing},
		{"acme hardware-bound RSA", func() (*profile.Profile, error) {
			return withACME(func(a *profile.ACME) { a.KeyType, a.KeySize = profile.KeyTypeRSA, 2048 })
		}, "PayloadContent[1].HardwareBound", profile.ErrInvalidValue},
		{"acme RSA size", func() (*profile.Profile, error) {
			return withACME(func(a *profile.ACME) {
				a.KeyType, a.KeySize, a.HardwareBound, a.Attest = profile.KeyTypeRSA, 1000, false, false
			})
		}, "PayloadContent[1].KeySize", profile.ErrInvalidValue},
		{"acme hardware-bound P-521", func() (*profile.Profile, error) {
			return withACME(func(a *profile.ACME) { a.KeySize = 521 })
		}, "PayloadContent[1].KeySize", profile.ErrInvalidValue},
		{"acme EC size", func() (*profile.Profile, error) {
			return withACME(func(a *profile.ACME) { a.KeySize = 512 })
		}, "PayloadContent[1].KeySize", profile.ErrInvalidValue},
		{"acme no key type", func() (*profile.Profile, error) {
			return withACME(func(a *profile.ACME) { a.KeyType = "" })
		}, "PayloadContent[1].KeyType", profile.ErrMissing},
		{"acme key type", func() (*profile.Profile, error) {
			return withACME(func(a *profile.ACME) { a.KeyType = "DSA" })
		}, "PayloadContent[1].KeyType", profile.ErrInvalidValue},
		{"acme attest without hardware binding", func() (*profile.Profile, error) {
			return withACME(func(a *profile.ACME) { a.HardwareBound = false })
		}, "PayloadContent[1].Attest", profile.ErrInvalidValue},
		{"pkcs12 empty", func() (*profile.Profile, error) {
			e := testEnrollment()
			e.Identity = &profile.PKCS12{}
			return profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
		}, "PayloadContent[1].PayloadContent", profile.ErrMissing},
		{"root not DER", func() (*profile.Profile, error) {
			return withCert(&profile.Root{Certificate: profile.Certificate{Content: []byte("nope")}})
		}, "PayloadContent[2].PayloadContent", profile.ErrInvalidValue},
		{"root empty", func() (*profile.Profile, error) {
			return withCert(&profile.Root{})
		}, "PayloadContent[2].PayloadContent", profile.ErrMissing},
		{"pem not PEM", func() (*profile.Profile, error) {
			return withCert(&profile.PEM{Certificate: profile.Certificate{Content: []byte("nope")}})
		}, "PayloadContent[2].PayloadContent", profile.ErrInvalidValue},
		{"pem empty", func() (*profile.Profile, error) {
			return withCert(&profile.PEM{})
		}, "PayloadContent[2].PayloadContent", profile.ErrMissing},
		{"nil certificate payload", func() (*profile.Profile, error) {
			return withCert(nil)
		}, "PayloadContent[2]", profile.ErrMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.build()
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if !hasFieldError(err, tt.field, tt.want) {
				t.Errorf("error %v does not name %s", err, tt.field)
			}
		})
	}
}

func TestValidateAllowInsecure(t *testing.T) {
	e := testEnrollment()
	e.ServerURL = "http://127.0.0.1:8080/mdm"
	e.CheckInURL = "http://127.0.0.1:8080/checkin"
	e.AllowInsecureURLs = true
	if _, err := profile.NewAccountDrivenUserEnrollment(e, "jane@example.com"); err != nil {
		t.Fatalf("AllowInsecureURLs: %v", err)
	}
}

func TestValidateAcceptsKinds(t *testing.T) {
	e := testEnrollment()
	e.Certificates = []profile.Payload{
		&profile.PEM{Certificate: profile.Certificate{Content: []byte("-----BEGIN CERTIFICATE-----\n" + strings.Repeat("A", 4) + "\n-----END CERTIFICATE-----\n")}},
	}
	e.Identity = &profile.PKCS12{Content: []byte{0x30, 0}, Password: "secret"}
	e.PinCertificates = true
	if _, err := profile.NewDeviceEnrollment(e, profile.AllRights); err != nil {
		t.Fatal(err)
	}
	// RSA ACME and a non-hardware-bound P-521 key are allowed.
	if _, err := withACME(func(a *profile.ACME) {
		a.KeyType, a.KeySize, a.HardwareBound, a.Attest = profile.KeyTypeRSA, 2048, false, false
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := withACME(func(a *profile.ACME) { a.KeySize, a.HardwareBound, a.Attest = 521, false, false }); err != nil {
		t.Fatal(err)
	}
}

func hasFieldError(err error, field string, reason error) bool {
	if fe, ok := err.(*profile.FieldError); ok {
		return fe.Field == field && errors.Is(fe, reason)
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if hasFieldError(e, field, reason) {
				return true
			}
		}
	}
	return false
}

func testProfileNoErr() *profile.Profile {
	p, err := profile.NewAccountDrivenUserEnrollment(testEnrollment(), "jane@example.com")
	if err != nil {
		panic(err)
	}
	return p
}

func withSCEP(f func(*profile.SCEP)) (*profile.Profile, error) {
	e := testEnrollment()
	s := *e.Identity.(*profile.SCEP)
	f(&s)
	e.Identity = &s
	return profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
}

func withACME(f func(*profile.ACME)) (*profile.Profile, error) {
	e := testEnrollment()
	a := &profile.ACME{
		DirectoryURL:     "https://acme.example.com/directory",
		ClientIdentifier: "client-42",
		KeySize:          256,
		KeyType:          profile.KeyTypeEC,
		HardwareBound:    true,
		Attest:           true,
		Subject:          profile.CommonName("enrollment-42"),
	}
	f(a)
	e.Identity = a
	return profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
}

func withCert(c profile.Payload) (*profile.Profile, error) {
	e := testEnrollment()
	e.Certificates = []profile.Payload{c}
	return profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
}

func TestValidateURLs(t *testing.T) {
	tests := []struct {
		url  string
		want error
	}{
		{"https://mdm.example.com", nil},
		{"https://mdm.example.com/mdm?x=1", nil},
		{"https://mdm.example.com:8443/mdm", nil},
		{"https://[::1]:8443/mdm", nil},
		{"https://mdm.example.com/a%20b", nil},
		{"https://mdm.example.com:bad/mdm", profile.ErrInvalidValue},
		{"https://mdm.example.com/a%zz", profile.ErrInvalidValue},
		{"https://mdm.exa mple.com/", profile.ErrInvalidValue},
		{"https://", profile.ErrInvalidValue},
		{"https:///path", profile.ErrInvalidValue},
		{"ftp://mdm.example.com", profile.ErrInvalidValue},
		{"mdm.example.com", profile.ErrInvalidValue},
		{"http://mdm.example.com", profile.ErrInsecureURL},
		{"https://mdm.example.com/\x7f", profile.ErrInvalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			e := testEnrollment()
			e.ServerURL = tt.url
			_, err := profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
			if !errors.Is(err, tt.want) || (tt.want != nil && !hasFieldError(err, "PayloadContent[0].ServerURL", tt.want)) {
				t.Errorf("error = %v, want %v", err, tt.want)
			}
		})
	}
}
