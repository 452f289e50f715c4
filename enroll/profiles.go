package enroll

import (
	"context"
	"errors"
)

// ProfileConfig describes the enrollment profiles the Service builds.
type ProfileConfig struct {
	// ServerURL is the MDM server URL (https).
	ServerURL string
	// CheckInURL is the check-in URL; empty means ServerURL.
	CheckInURL string
	// Topic is the push topic (the push certificate's UID, starting
	// "com.apple.mgmt.").
	Topic string
	// Organization and DisplayName are shown on the device.
	Organization string
	DisplayName  string
	// Identifier is the profile's PayloadIdentifier prefix, for example
	// "com.example.mdm"; empty means "enrollkit.enrollment".
	Identifier string
}

func (c ProfileConfig) check() error { return nil }

// buildProfile builds and signs the enrollment profile for e. It may set
// identity fields of e (see IdentityProvider), which are stored with the
// step.
func (s *Service) buildProfile(ctx context.Context, e *Enrollment) ([]byte, error) {
	return nil, errors.New("enroll: building profiles waits for package profile")
}
