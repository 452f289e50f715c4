package enroll

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/enrollkit/enrollkit/profile"
)

// DefaultProfileIdentifier is the PayloadIdentifier of enrollment profiles
// when ProfileConfig.Identifier is empty.
const DefaultProfileIdentifier = "enrollkit.enrollment"

// ProfileConfig describes the enrollment profiles the Service builds. Every
// profile asks the device to sign its messages (SignMessage) and to check
// out when it is removed (CheckOutWhenRemoved): the Service relies on both to
// tie check-ins to enrollments and to notice removal.
type ProfileConfig struct {
	// ServerURL is the MDM server URL (https). Required.
	ServerURL string
	// CheckInURL is the check-in URL; empty means ServerURL.
	CheckInURL string
	// Topic is the push topic (the push certificate's UID, starting
	// "com.apple.mgmt."). Required.
	Topic string
	// Identifier is the profile's PayloadIdentifier; empty means
	// DefaultProfileIdentifier. Payload UUIDs derive from it and the
	// enrollment ID.
	Identifier string
	// DisplayName, Organization and Description are shown on the device.
	DisplayName  string
	Organization string
	Description  string
	// Certificates are further payloads (*profile.Root or *profile.PEM
	// anchors for the server's TLS certificate); PinCertificates pins
	// them for ServerURL and CheckInURL.
	Certificates    []profile.Payload
	PinCertificates bool
	// ServerCapabilities lists further profile.Capability… strings. The
	// profiles always announce profile.CapabilityPerUserConnections, so
	// that a Mac opens its user channel beside the device channel (iPhones
	// and iPads ignore it).
	ServerCapabilities []string
	// UseDevelopmentAPNS selects the APNs sandbox.
	UseDevelopmentAPNS bool
	// DeviceAccessRights are the AccessRights of device-enrollment
	// profiles (corporate devices under CorporateDeviceEnrollment); zero
	// means profile.AllRights.
	DeviceAccessRights profile.AccessRights
	// AllowInsecureURLs accepts http URLs, for local tests only: devices
	// refuse such profiles.
	AllowInsecureURLs bool
}

func (c ProfileConfig) check() error {
	if c.Topic == "" || !strings.HasPrefix(c.Topic, profile.TopicPrefix) {
		return fmt.Errorf("enroll: New: Config.Profile.Topic %q must start with %q", c.Topic, profile.TopicPrefix)
	}
	urls := []string{c.ServerURL}
	if c.CheckInURL != "" {
		urls = append(urls, c.CheckInURL)
	}
	for _, u := range urls {
		p, err := url.Parse(u)
		if err != nil || p.Host == "" || (p.Scheme != "https" && (!c.AllowInsecureURLs || p.Scheme != "http")) {
			return fmt.Errorf("enroll: New: Config.Profile URL %q is not an absolute https URL", u)
		}
	}
	return nil
}

// buildProfile builds and signs the enrollment profile for e: a User
// Enrollment profile with e's Managed Apple Account (profile-based flow), an
// account-driven BYOD profile with it as AssignedManagedAppleID, or, for a
// corporate device under CorporateDeviceEnrollment in the profile-based
// flow, a device-enrollment profile. The IdentityProvider may record its
// challenge in e.
func (s *Service) buildProfile(ctx context.Context, e *Enrollment) ([]byte, error) {
	c := s.cfg.Profile
	id, err := s.cfg.Identity.Identity(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if id == nil {
		return nil, errors.New("enroll: identity provider returned no payload")
	}
	pe := profile.EnrollmentSpec{
		Identifier:          s.profileIdentifier(),
		Seed:                e.ID,
		DisplayName:         c.DisplayName,
		Organization:        c.Organization,
		Description:         c.Description,
		Topic:               c.Topic,
		ServerURL:           c.ServerURL,
		CheckInURL:          c.CheckInURL,
		SignMessage:         true,
		CheckOutWhenRemoved: true,
		UseDevelopmentAPNS:  c.UseDevelopmentAPNS,
		ServerCapabilities:  serverCapabilities(c.ServerCapabilities),
		Identity:            id,
		Certificates:        c.Certificates,
		PinCertificates:     c.PinCertificates,
		ValidateOptions:     profile.ValidateOptions{AllowInsecureURLs: c.AllowInsecureURLs},
	}
	if pe.DisplayName == "" {
		pe.DisplayName = "Device Management"
	}
	var p *profile.Profile
	switch {
	case e.Ownership == OwnershipCorporate && e.Flow == FlowProfile:
		rights := c.DeviceAccessRights
		if rights == 0 {
			rights = profile.AllRights
		}
		p, err = profile.NewDeviceEnrollment(pe, rights)
	case e.Ownership == OwnershipCorporate:
		return nil, ErrCorporateRefused
	case e.Flow == FlowAccountDriven:
		p, err = profile.NewAccountDrivenUserEnrollment(pe, e.ManagedAppleID)
	default:
		p, err = profile.NewUserEnrollment(pe, e.ManagedAppleID)
	}
	if err != nil {
		return nil, fmt.Errorf("building profile: %w", err)
	}
	signed, err := s.cfg.Signer.SignProfile(p)
	if err != nil {
		return nil, fmt.Errorf("signing profile: %w", err)
	}
	return signed, nil
}

// profileBasis is what an enrollment profile is built from, besides the
// Service's configuration.
type profileBasis struct {
	id, user, managedAppleID string
	state                    State
	ownership                Ownership
	flow                     Flow
}

func basisOf(e *Enrollment) profileBasis {
	return profileBasis{id: e.ID, user: e.UserID, managedAppleID: e.ManagedAppleID, state: e.State, ownership: e.Ownership, flow: e.Flow}
}

// identityFields are the fields of an Enrollment an IdentityProvider may
// record what it issued in.
type identityFields struct {
	challengeHash      string
	challengeExpiresAt time.Time
	challengeUsed      bool
}

func identityOf(e *Enrollment) identityFields {
	return identityFields{e.ChallengeHash, e.ChallengeExpiresAt, e.ChallengeUsed}
}

// set records f in e.
func (f identityFields) set(e *Enrollment) {
	e.ChallengeHash, e.ChallengeExpiresAt, e.ChallengeUsed = f.challengeHash, f.challengeExpiresAt, f.challengeUsed
}

// serverCapabilities is the profile's ServerCapabilities for the configured
// list (see ProfileConfig.ServerCapabilities).
func serverCapabilities(c []string) []string {
	if slices.Contains(c, profile.CapabilityPerUserConnections) {
		return c
	}
	return append([]string{profile.CapabilityPerUserConnections}, c...)
}

// profileIdentifier is the PayloadIdentifier of the enrollment profiles
// the Service builds.
func (s *Service) profileIdentifier() string {
	if s.cfg.Profile.Identifier != "" {
		return s.cfg.Profile.Identifier
	}
	return DefaultProfileIdentifier
}
