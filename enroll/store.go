package enroll

import (
	"context"
	"slices"
	"time"

	"github.com/enrollkit/enrollkit/passcode"
)

// Ownership is who owns the device, as the user declared at sign-in.
type Ownership string

// Device ownership choices; the portal's "ownership" form field carries these
// values.
const (
	// OwnershipEmployee: a personal device; it gets a User Enrollment.
	OwnershipEmployee Ownership = "employee"
	// OwnershipCorporate: a company device; what happens is the host's
	// CorporatePolicy.
	OwnershipCorporate Ownership = "corporate"
)

// Valid reports whether o is one of the defined choices.
func (o Ownership) Valid() bool { return o == OwnershipEmployee || o == OwnershipCorporate }

// Flow is how the device receives its enrollment profile.
type Flow string

// Enrollment flows. An enrollment's Flow is empty until a download link or an
// access token is issued.
const (
	// FlowProfile: profile-based User Enrollment (iOS 13–17): the user
	// downloads a .mobileconfig in Safari.
	FlowProfile Flow = "profile"
	// FlowAccountDriven: account-driven User Enrollment (iOS 15+): the
	// device fetches its profile with an access token.
	FlowAccountDriven Flow = "account-driven"
)

// Enrollment is one user's way from invitation to an enrolled device, as the
// Store keeps it. Secrets appear only as hashes: the *Hash fields hold the
// lower-case hex SHA-256 of high-entropy random tokens, and the passcode is an
// argon2id hash inside Passcode.
//
// Values are plain data: a Store copies them in and out, and callers own what
// they receive (see [Enrollment.Clone]).
type Enrollment struct {
	// ID identifies the enrollment (32 hex characters, random).
	ID string
	// Version is the optimistic-concurrency version: 1 after Create, one
	// more after every successful Update.
	Version int64
	// State is where the enrollment stands.
	State State

	// UserID is the host's identifier of the invited user.
	UserID string
	// ManagedAppleID is the user's Managed Apple Account, from the
	// Directory at invitation time.
	ManagedAppleID string
	// Ownership is what the user declared at sign-in; empty before.
	Ownership Ownership
	// Flow is set when a download link or access token is issued.
	Flow Flow

	// InvitationHash is the hash of the invitation token (index
	// IndexInvitation).
	InvitationHash string
	// Passcode is the one-time passcode's persisted state.
	Passcode passcode.State

	// InfoSeenAt is when the information screen was acknowledged.
	InfoSeenAt time.Time
	// TermsVersion and TermsDigest (hex SHA-256 of the text shown) record
	// what was accepted; ConsentedAt when.
	TermsVersion string
	TermsDigest  string
	ConsentedAt  time.Time

	// DownloadHash is the hash of the profile download link's token (index
	// IndexDownload); DownloadExpiresAt ends its validity; DownloadUsed is
	// set when the profile was served with it.
	DownloadHash      string
	DownloadExpiresAt time.Time
	DownloadUsed      bool

	// AccessTokenHash is the hash of the account-driven access token (index
	// IndexAccessToken).
	AccessTokenHash string

	// ChallengeHash is the hash of the identity (SCEP) challenge put into
	// the profile by SCEPChallenges (index IndexChallenge);
	// ChallengeExpiresAt ends its validity; ChallengeUsed is set when the
	// certificate authority redeemed it.
	ChallengeHash      string
	ChallengeExpiresAt time.Time
	ChallengeUsed      bool

	// CertificateHash is the hex SHA-256 of the DER identity certificate
	// issued for this enrollment (index IndexCertificate).
	CertificateHash string

	// DeviceID is the EnrollmentID (or, for a device enrollment, the UDID)
	// the device checked in with (index IndexDevice).
	DeviceID string

	// CreatedAt and UpdatedAt are set by the Service.
	CreatedAt time.Time
	UpdatedAt time.Time
	// ExpiresAt is when an unfinished enrollment expires; zero for
	// finished ones.
	ExpiresAt time.Time
}

// Clone returns a copy of e that shares nothing with it.
func (e *Enrollment) Clone() *Enrollment {
	if e == nil {
		return nil
	}
	c := *e
	return &c
}

// Index names a field by which an enrollment can be found.
type Index string

// The indexes a Store must support in Find. Their values are unique in
// practice (hashes of 256-bit random tokens, per-enrollment device
// identifiers); see Store.Find for what happens when they are not.
const (
	IndexInvitation  Index = "invitation"   // Enrollment.InvitationHash
	IndexDownload    Index = "download"     // Enrollment.DownloadHash
	IndexAccessToken Index = "access-token" // Enrollment.AccessTokenHash
	IndexChallenge   Index = "challenge"    // Enrollment.ChallengeHash
	IndexCertificate Index = "certificate"  // Enrollment.CertificateHash
	IndexDevice      Index = "device"       // Enrollment.DeviceID
)

// Indexes lists every Index.
func Indexes() []Index {
	return []Index{IndexInvitation, IndexDownload, IndexAccessToken, IndexChallenge, IndexCertificate, IndexDevice}
}

// Key returns e's value for index i ("" for an unknown index).
func (e *Enrollment) Key(i Index) string {
	switch i {
	case IndexInvitation:
		return e.InvitationHash
	case IndexDownload:
		return e.DownloadHash
	case IndexAccessToken:
		return e.AccessTokenHash
	case IndexChallenge:
		return e.ChallengeHash
	case IndexCertificate:
		return e.CertificateHash
	case IndexDevice:
		return e.DeviceID
	}
	return ""
}

// AuditEvent records one transition of one enrollment.
type AuditEvent struct {
	// EnrollmentID is the enrollment the event belongs to.
	EnrollmentID string
	// Time is when it happened (the Service's clock).
	Time time.Time
	// Event, From and To are the transition (From is empty for
	// EventInvite).
	Event Event
	From  State
	To    State
	// Actor, ClientIP and UserAgent come from the request's Meta.
	Actor     string
	ClientIP  string
	UserAgent string
	// TermsVersion and TermsDigest (hex SHA-256 of the text shown) are set
	// for EventConsent.
	TermsVersion string
	TermsDigest  string
	// Detail is a short free-text note (for example a revocation reason).
	Detail string
}

// ListOptions selects enrollments for Store.List. Zero fields select
// everything.
type ListOptions struct {
	// UserID, if set, selects the enrollments of that user.
	UserID string
	// ManagedAppleID, if set, selects the enrollments for that Managed
	// Apple ID (compared exactly).
	ManagedAppleID string
	// States, if not empty, selects enrollments in one of these states.
	States []State
	// ExpiresBefore, if not zero, selects enrollments whose ExpiresAt is
	// not zero and not after it.
	ExpiresBefore time.Time
	// Limit, if positive, caps the number of results.
	Limit int
}

// Match reports whether e is selected by o (ignoring Limit). Stores may use
// it; it defines the semantics SQL stores reproduce.
func (o ListOptions) Match(e *Enrollment) bool {
	if o.UserID != "" && e.UserID != o.UserID {
		return false
	}
	if o.ManagedAppleID != "" && e.ManagedAppleID != o.ManagedAppleID {
		return false
	}
	if len(o.States) > 0 && !slices.Contains(o.States, e.State) {
		return false
	}
	if !o.ExpiresBefore.IsZero() && (e.ExpiresAt.IsZero() || e.ExpiresAt.After(o.ExpiresBefore)) {
		return false
	}
	return true
}

// Store persists enrollments and their audit trail. The Service is the only
// writer of enrollment business state; a Store keeps data and enforces the
// version check, nothing else.
//
// Contract (enroll/enrolltest checks all of it):
//
//   - Values are copied: a Store never keeps the *Enrollment it was given,
//     and every *Enrollment or slice it returns belongs to the caller.
//   - Missing enrollments are reported with an error matching ErrNotFound.
//   - Update is a compare-and-swap on Version, atomic together with its
//     audit events: if the stored version is not expectedVersion nothing is
//     written and the error matches ErrVersionConflict. Concurrent Updates
//     with the same expectedVersion succeed for exactly one caller.
//   - A device id belongs to at most one live enrollment (one whose State
//     is not Terminal): a Create or Update that would give a non-empty
//     DeviceID to a live enrollment while another live enrollment has it
//     writes nothing and fails with an error matching ErrDeviceInUse, also
//     when the two race from different processes. Finished enrollments keep
//     their device id and may share it.
//   - Times survive a round trip to at least microsecond precision (equal
//     by time.Time.Equal after truncation to microseconds); the location
//     need not.
//   - All methods are safe for concurrent use, also from several processes
//     sharing one database.
type Store interface {
	// Create stores a new enrollment with Version 1 and appends events to
	// its audit trail. It sets e.Version to 1. An existing e.ID gives an
	// error matching ErrExists.
	Create(ctx context.Context, e *Enrollment, events ...AuditEvent) error

	// Get returns the enrollment with the given ID.
	Get(ctx context.Context, id string) (*Enrollment, error)

	// Find returns the enrollment whose value for index is key. An empty
	// key never matches. If several enrollments match, the one created
	// last is returned (ties broken by the greater ID).
	Find(ctx context.Context, index Index, key string) (*Enrollment, error)

	// Update replaces the stored enrollment e.ID if its version is
	// expectedVersion, stores it with Version expectedVersion+1, appends
	// events to its audit trail, and sets e.Version to the new version.
	// A missing enrollment gives ErrNotFound, a different stored version
	// ErrVersionConflict; either way nothing changes.
	Update(ctx context.Context, e *Enrollment, expectedVersion int64, events ...AuditEvent) error

	// List returns the enrollments o selects, oldest CreatedAt first (ties
	// by ID).
	List(ctx context.Context, o ListOptions) ([]*Enrollment, error)

	// Audit returns the audit trail of enrollment id in the order the
	// events were stored; an enrollment without events gives an empty
	// slice, an unknown one ErrNotFound.
	Audit(ctx context.Context, id string) ([]AuditEvent, error)

	// Prune deletes up to limit finished enrollments (State Terminal)
	// whose UpdatedAt is before before, each with its audit trail, and
	// returns how many it deleted; fewer than limit means none is left.
	// Live enrollments are never deleted, whatever their age.
	Prune(ctx context.Context, before time.Time, limit int) (int, error)
}
