package ddm

import (
	"context"
	"encoding/json"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
)

// Assignment is what one enrollment is assigned: named sets and single
// declarations. An assignment with neither assigns nothing.
type Assignment struct {
	Enrollment   mdm.EnrollmentID `json:"enrollment"`
	Sets         []string         `json:"sets,omitempty"`
	Declarations []string         `json:"declarations,omitempty"`
}

// Facts are what a device reported about itself in a status report
// (device.operating-system.family and .version); empty fields are not
// reported. They are not part of the catalog: each enrollment's facts have
// their own revision (Store.PutFacts), so that one device reporting a new
// OS release leaves every other enrollment's state current.
type Facts struct {
	Platform  string `json:"platform,omitempty"`
	OSVersion string `json:"os_version,omitempty"`
}

// Catalog is what hosts defined, at one revision.
type Catalog struct {
	// Revision counts the catalog's changes (Store.Apply).
	Revision int64
	// Declarations by identifier.
	Declarations map[string]*Declaration
	// Sets by name: the identifiers of their declarations.
	Sets map[string][]string
}

// Snapshot is the catalog with one enrollment's assignment and facts, read
// at one revision.
type Snapshot struct {
	Catalog
	// Assignment is the enrollment's; nil when it has none.
	Assignment *Assignment
	// Facts are the enrollment's; nil when none were reported.
	Facts *Facts
	// FactsRevision is the revision of the enrollment's facts (0 when
	// none were reported).
	FactsRevision int64
}

// Snapshots is the catalog with several enrollments' assignments, facts
// and sync states, all read at one revision.
type Snapshots struct {
	Catalog
	// Assignments by enrollment; an enrollment without one is absent.
	Assignments map[mdm.EnrollmentID]*Assignment
	// Facts by enrollment; an enrollment that reported none is absent.
	Facts map[mdm.EnrollmentID]Facts
	// FactsRevisions are the revisions of Facts, by enrollment; an
	// enrollment that reported none is absent (its facts revision is 0).
	FactsRevisions map[mdm.EnrollmentID]int64
	// States by enrollment; an enrollment without one is absent.
	States map[mdm.EnrollmentID]*SyncState
}

// Change is one write to the catalog. Deletions apply before puts.
type Change struct {
	PutDeclarations    []*Declaration
	DeleteDeclarations []string
	// PutSets creates or replaces sets.
	PutSets    map[string][]string
	DeleteSets []string
	// PutAssignments creates or replaces assignments; one with no sets
	// and no declarations deletes the enrollment's assignment.
	PutAssignments []*Assignment
}

// empty reports whether ch changes nothing.
func (ch *Change) empty() bool {
	return len(ch.PutDeclarations) == 0 && len(ch.DeleteDeclarations) == 0 && len(ch.PutSets) == 0 &&
		len(ch.DeleteSets) == 0 && len(ch.PutAssignments) == 0
}

// Item is one declaration as the declaration-items endpoint lists it.
type Item struct {
	Class       Class  `json:"class"`
	Identifier  string `json:"identifier"`
	ServerToken string `json:"server_token"`
}

// SyncState is what an enrollment is served: the items and their
// DeclarationsToken, computed together at one catalog revision and one
// revision of the enrollment's facts, so a token always matches its items.
// It is current while neither the catalog nor the enrollment's facts have
// changed since; states are ordered by Revision, then FactsRevision.
type SyncState struct {
	Enrollment mdm.EnrollmentID `json:"enrollment"`
	// Revision is the catalog revision it was computed at.
	Revision int64 `json:"revision"`
	// FactsRevision is the revision of the enrollment's facts it was
	// computed at (0: none reported).
	FactsRevision int64 `json:"facts_revision,omitempty"`
	// DeclarationsToken is derived from Items.
	DeclarationsToken string `json:"declarations_token"`
	// Timestamp is when DeclarationsToken last changed.
	Timestamp time.Time `json:"timestamp"`
	// Items are the declarations served, by class and identifier.
	Items []Item `json:"items"`
	// Withheld are the declarations assigned but not served, and why.
	Withheld []Withheld `json:"withheld,omitempty"`
	// Device is what filtering took the device to be.
	Device Device `json:"device"`
}

// Status is the latest status an enrollment reported.
type Status struct {
	Enrollment mdm.EnrollmentID `json:"enrollment"`
	// Items holds the latest value of each status item by its dotted
	// name ("device.operating-system.version"), as JSON.
	Items map[string]json.RawMessage `json:"items,omitempty"`
	// Declarations holds each declaration's latest state by identifier.
	Declarations map[string]DeclarationStatus `json:"declarations,omitempty"`
	// Errors are the status items the device could not report, from its
	// latest report.
	Errors []StatusError `json:"errors,omitempty"`
	// UpdatedAt is when the latest report arrived.
	UpdatedAt time.Time `json:"updated_at"`
}

// DeclarationStatus is one declaration's state on the device.
type DeclarationStatus struct {
	Class       Class  `json:"class"`
	Identifier  string `json:"identifier"`
	ServerToken string `json:"server_token"`
	// Active reports whether the device applies it.
	Active bool `json:"active"`
	// Valid is "valid", "invalid" or "unknown".
	Valid   string         `json:"valid"`
	Reasons []StatusReason `json:"reasons,omitempty"`
}

// StatusReason is a device's reason for a state or an error.
type StatusReason struct {
	Code        string          `json:"code"`
	Description string          `json:"description,omitempty"`
	Details     json.RawMessage `json:"details,omitempty"`
}

// StatusError is a status item the device could not report.
type StatusError struct {
	StatusItem string         `json:"status_item"`
	Reasons    []StatusReason `json:"reasons,omitempty"`
}

// Store keeps declarative management state.
//
// The catalog (declarations, sets, assignments) changes only
// through Apply, a compare-and-swap on one revision, so a caller that read
// the catalog at a revision and validated a change against it writes it only
// if nothing changed meanwhile. Values passed in are not retained and values
// returned belong to the caller. Implementations must be safe for
// concurrent use, also by several processes sharing one database; run
// ddmtest.Run to prove one.
type Store interface {
	// Revision returns the catalog's current revision (0 when empty).
	Revision(ctx context.Context) (int64, error)
	// Revisions returns the catalog's current revision and that of id's
	// facts (0 when none were reported), read together: what tells
	// whether id's stored state is current.
	Revisions(ctx context.Context, id mdm.EnrollmentID) (catalog, facts int64, err error)
	// Catalog returns the declarations and sets at one revision.
	Catalog(ctx context.Context) (*Catalog, error)
	// Snapshot returns the catalog with id's assignment and facts, all at
	// one revision.
	Snapshot(ctx context.Context, id mdm.EnrollmentID) (*Snapshot, error)
	// Declaration returns the declaration identifier, or ErrNotFound.
	Declaration(ctx context.Context, identifier string) (*Declaration, error)
	// Assignments returns every assignment, sorted by enrollment.
	Assignments(ctx context.Context) ([]*Assignment, error)
	// Apply writes ch if the revision is still revision and returns the
	// new revision (revision+1). Otherwise it returns ErrConflict and
	// writes nothing. The change is atomic.
	Apply(ctx context.Context, revision int64, ch *Change) (int64, error)

	// SyncState returns id's state, or ErrNotFound.
	SyncState(ctx context.Context, id mdm.EnrollmentID) (*SyncState, error)
	// PutFacts records what devices reported, in one transaction, without
	// changing the catalog's revision: each enrollment whose facts differ
	// from those stored (or that had none) has its facts revision raised
	// by one; facts equal to those stored change nothing.
	PutFacts(ctx context.Context, facts map[mdm.EnrollmentID]Facts) error

	// PutSyncState stores st if id has no state or one that is older: of
	// a lower Revision, or of the same Revision and a lower FactsRevision.
	// It reports whether it stored st; a state as new or newer is kept.
	PutSyncState(ctx context.Context, st *SyncState) (bool, error)

	// Snapshots returns the catalog with the assignments, facts and sync
	// states of ids, all at one revision: what a change fanned out to
	// many enrollments reads at once.
	Snapshots(ctx context.Context, ids []mdm.EnrollmentID) (*Snapshots, error)
	// PutSyncStates is PutSyncState for each of sts in one transaction;
	// stored[i] reports whether sts[i] was stored.
	PutSyncStates(ctx context.Context, sts []*SyncState) (stored []bool, err error)

	// Status returns id's latest status, or ErrNotFound.
	Status(ctx context.Context, id mdm.EnrollmentID) (*Status, error)
	// PutStatus replaces id's status with st.
	PutStatus(ctx context.Context, st *Status) error
}
