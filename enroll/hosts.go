package enroll

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/profile"
)

// User is a person the host knows, as far as enrollment needs to know them.
type User struct {
	// ID is the host's stable identifier for the user. Required.
	ID string
	// Name is shown on portal pages and in invitations.
	Name string
	// Email is where the host's Notifier may send the invitation.
	Email string
}

// Authenticator checks corporate credentials.
//
// Authenticate returns the user the credentials belong to, or an error
// matching ErrBadCredentials when they are wrong; any other error is treated
// as a failure of the authenticator itself. The password must not be logged
// or kept. Service.Authenticate calls it at most once per call, never for an
// enrollment that is locked, finished or expired. Implementations must be
// safe for concurrent use.
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (User, error)
}

// AuthenticatorFunc adapts a function to the Authenticator interface.
type AuthenticatorFunc func(ctx context.Context, username, password string) (User, error)

// Authenticate calls f(ctx, username, password).
func (f AuthenticatorFunc) Authenticate(ctx context.Context, username, password string) (User, error) {
	return f(ctx, username, password)
}

// Invitation is what a user receives to start an enrollment. It carries the
// invitation link's token and the passcode in the clear: they exist nowhere
// else (the Store keeps only their hashes), so whoever receives an Invitation
// must deliver it and then forget it.
//
// It leads to both ways a personal device enrolls. On iOS and iPadOS 13.1
// to 17 (and macOS up to 14) the user opens URL in Safari, or scans QRCode,
// and the portal's steps end with a profile download. iOS and iPadOS 18 and
// later cannot install that profile: there, and on macOS 14 and later, the
// user starts from Settings ("Sign In to Work or School Account") with their
// Managed Apple Account, ManagedAppleID, and the device opens the same
// portal steps itself. The link leads there too: on a current release the
// portal shows the Settings steps instead of the sign-in form. Both ways ask
// for the Passcode. Text spells out both for a mail or message.
type Invitation struct {
	// EnrollmentID is the enrollment the invitation opens.
	EnrollmentID string
	// User is the invited user.
	User User
	// ManagedAppleID is the user's Managed Apple Account: entered in
	// Settings to start account-driven enrollment, or signed in to at the
	// end of the profile-based one.
	ManagedAppleID string
	// Token is the secret in the invitation link.
	Token string
	// URL is the invitation link (Config.InvitationURL of Token).
	URL string
	// QRCode is a PNG image of URL, for scanning with the device's camera.
	QRCode []byte
	// Passcode is the one-time passcode, formatted for display
	// ("1234-5678"); the portal accepts it with or without the dash.
	Passcode string
	// ExpiresAt is when the invitation and passcode stop working.
	ExpiresAt time.Time
}

// Text returns the invitation as plain text for a mail or a message: the
// Settings steps with the Managed Apple Account for iOS and iPadOS 18 and
// later and macOS 14 and later, the link for earlier releases, the passcode
// and when it expires (in UTC). It holds the invitation's secrets.
func (inv *Invitation) Text() string {
	var b strings.Builder
	b.WriteString("You are invited to enroll your personal iPhone, iPad or Mac for work. Your personal data stays private: only a separate work area is managed.\n\n")
	b.WriteString("iPhone or iPad with iOS or iPadOS 18 or later, or a Mac with macOS 14 or later:\n")
	fmt.Fprintf(&b, "  1. Open %s\n     (on a Mac: %s).\n", settingsPathIOS, settingsPathMac)
	fmt.Fprintf(&b, "  2. Tap \"%s\".\n", settingsButton)
	fmt.Fprintf(&b, "  3. Enter your Managed Apple Account: %s\n", inv.ManagedAppleID)
	b.WriteString("  4. Sign in with your work username and password, and enter the passcode below when asked.\n\n")
	b.WriteString("iPhone or iPad with iOS or iPadOS 13.1 to 17, or a Mac with macOS 13 or earlier:\n")
	fmt.Fprintf(&b, "  Open this link in Safari, or scan the QR code with the camera, and follow the steps:\n  %s\n\n", inv.URL)
	fmt.Fprintf(&b, "Passcode: %s\n", inv.Passcode)
	fmt.Fprintf(&b, "Valid until: %s\n", inv.ExpiresAt.UTC().Format("2006-01-02 15:04 MST"))
	return b.String()
}

// Notifier delivers invitations to users (by mail, SMS, a chat message, …).
//
// Notify is called once per invitation, after the enrollment was stored.
// An error makes CreateInvitation revoke the enrollment and fail, so an
// invitation nobody received does not linger. The Invitation holds secrets in
// the clear: deliver them only to the user and do not log or keep them.
// Implementations must be safe for concurrent use.
type Notifier interface {
	Notify(ctx context.Context, inv *Invitation) error
}

// NotifierFunc adapts a function to the Notifier interface.
type NotifierFunc func(ctx context.Context, inv *Invitation) error

// Notify calls f(ctx, inv).
func (f NotifierFunc) Notify(ctx context.Context, inv *Invitation) error { return f(ctx, inv) }

// Directory maps users to their Managed Apple Accounts and back.
//
// ManagedAppleID returns the Managed Apple Account of the user with the
// given ID; UserID returns the user ID for a Managed Apple Account (compared as the host's
// directory compares them, usually case-insensitively). Both return an error
// matching ErrUnknownUser when there is none. Implementations must be safe for
// concurrent use.
type Directory interface {
	ManagedAppleID(ctx context.Context, userID string) (string, error)
	UserID(ctx context.Context, managedAppleID string) (string, error)
}

// IdentityProvider supplies the identity payload of enrollment profiles
// and vouches for the challenges in them. The Service's built-in one,
// configured by Config.SCEP, hands out SCEP challenges ([SCEPChallenges]); a
// host with its own certificate authority may write another (an ACME
// payload, a PKCS#12 identity, …).
//
// Identity returns the identity payload (a *profile.SCEP, *profile.ACME or
// *profile.PKCS12) for the profile about to be served for e. It may record
// what it issued in e's Challenge fields (ChallengeHash, ChallengeExpiresAt,
// ChallengeUsed); the Service stores those, and no other change to e,
// together with the step that serves the profile, so nothing is kept for a
// profile that was not served. It is called once for every profile about to
// be served, outside the Service's retries; when the step then fails (the
// link was used or replaced, or the enrollment revoked, meanwhile) the
// profile is not served, so anything it keeps outside e must tolerate
// challenges that are never used.
//
// ChallengeEnrollment returns the ID of the enrollment a challenge was issued
// for, when the certificate authority asks (before it signs a certificate),
// or an error matching ErrChallengeInvalid. It need not enforce single use:
// [Service.RedeemChallenge] does, and refuses enrollments that are not waiting
// for their device.
//
// Implementations must be safe for concurrent use.
type IdentityProvider interface {
	Identity(ctx context.Context, e *Enrollment) (profile.Payload, error)
	ChallengeEnrollment(ctx context.Context, challenge string) (string, error)
}

// Unenroller asks an enrolled device to remove its enrollment: it queues
// the removal of the enrollment profile (RemoveProfile with
// profileIdentifier) for the device channel device and wakes the device.
// Package server implements it on the MDM service.
type Unenroller interface {
	Unenroll(ctx context.Context, device mdm.EnrollmentID, profileIdentifier string) error
}

// UnenrollerFunc adapts a function to Unenroller.
type UnenrollerFunc func(ctx context.Context, device mdm.EnrollmentID, profileIdentifier string) error

// Unenroll calls f.
func (f UnenrollerFunc) Unenroll(ctx context.Context, device mdm.EnrollmentID, profileIdentifier string) error {
	return f(ctx, device, profileIdentifier)
}
