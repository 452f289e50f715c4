package mdm

import (
	"context"
	"time"
)

// EnrollmentRecord is what a Store keeps about one enrollment (one channel).
type EnrollmentRecord struct {
	// ID is the enrollment's key.
	ID EnrollmentID
	// Type is the kind of enrollment.
	Type EnrollmentType
	// ParentID is the device channel of a user channel; empty otherwise.
	ParentID EnrollmentID
	// Certificate is the fingerprint of the identity certificate bound at
	// Authenticate. It is zero for user channels, which use their parent's.
	Certificate Fingerprint

	// Topic is the push topic the device reported.
	Topic string
	// Device facts from Authenticate (empty when the device does not send
	// them, as under User Enrollment). A user channel, which has no
	// Authenticate of its own, copies OSVersion and BuildVersion from its
	// device channel at every TokenUpdate.
	OSVersion, BuildVersion, ProductName, SerialNumber, DeviceName, Model, ModelName string
	// Platform is the device's OS family, derived at Authenticate from
	// ProductName, Model and ModelName (a user channel copies its device
	// channel's at every TokenUpdate). PlatformUnknown in records stored
	// before platforms were recorded, until their next TokenUpdate. The
	// channel is Type's: IsUserChannel.
	Platform Platform

	// Token and PushMagic come from the latest TokenUpdate. (UnlockToken is
	// not kept: observers see it in the TokenUpdate message.)
	Token     []byte
	PushMagic string
	// TokenDead is set when a push reported the token dead; cleared by the
	// next TokenUpdate.
	TokenDead bool
	// Enrolled is set by the first TokenUpdate after Authenticate.
	Enrolled bool
	// CheckedOut is set by CheckOut and cleared by the next Authenticate.
	CheckedOut bool

	// AuthenticatedAt and UpdatedAt are when the record was last
	// authenticated and last changed.
	AuthenticatedAt, UpdatedAt time.Time
}

// Clone returns a deep copy of r.
func (r *EnrollmentRecord) Clone() *EnrollmentRecord {
	c := *r
	if r.Token != nil {
		c.Token = append([]byte(nil), r.Token...)
	}
	return &c
}

// EnrollmentStore keeps enrollment records and certificate bindings.
//
// Records passed in are not retained (implementations copy what they keep)
// and records returned belong to the caller. Implementations must be safe for
// concurrent use, also by several processes sharing one database.
type EnrollmentStore interface {
	// PutEnrollment creates or replaces the record rec.ID. A non-zero
	// rec.Certificate binds that certificate to rec.ID: if it is already
	// bound to a different enrollment PutEnrollment returns
	// ErrCertificateInUse and changes nothing. This check and the write are
	// atomic. Replacing a record's certificate releases the old one.
	PutEnrollment(ctx context.Context, rec *EnrollmentRecord) error
	// Enrollment returns the record id, or ErrNotFound.
	Enrollment(ctx context.Context, id EnrollmentID) (*EnrollmentRecord, error)
	// Enrollments returns the records of ids by ID, read in a few
	// statements rather than one per record (what a command for many
	// enrollments reads); an ID without a record is absent, and a
	// repeated ID is read once.
	Enrollments(ctx context.Context, ids []EnrollmentID) (map[EnrollmentID]*EnrollmentRecord, error)
	// EnrollmentByCertificate returns the enrollment fp is bound to, or
	// ErrNotFound.
	EnrollmentByCertificate(ctx context.Context, fp Fingerprint) (EnrollmentID, error)
	// MarkTokenDead sets TokenDead on id if its current Token equals token
	// (a newer TokenUpdate wins). A missing enrollment or a different token
	// is not an error.
	MarkTokenDead(ctx context.Context, id EnrollmentID, token []byte) error
}

// CommandQueue keeps one ordered command queue per enrollment and the
// results devices report.
//
// Commands passed in are not retained and values returned belong to the
// caller. Implementations must be safe for concurrent use, also by several
// processes sharing one database: NextCommand must hand a command to at most
// one caller at a time.
type CommandQueue interface {
	// Enqueue appends cmd to the queue of every id, all or nothing. If cmd.UUID
	// is already queued (pending or completed) for any id it returns
	// ErrCommandExists and queues nothing.
	Enqueue(ctx context.Context, cmd *Command, ids []EnrollmentID) error
	// QueueStats counts the commands still waiting for devices and finds
	// when the oldest of them was queued (see QueueStats), for monitoring.
	QueueStats(ctx context.Context) (QueueStats, error)
	// NextCommand returns the oldest pending command of id that is not marked
	// NotNow and has not expired at now (see ExpireCommands), with its
	// ExpiresAt, and leases it until now+lease. If that command is leased to
	// someone else (lease not expired), or nothing is pending, it returns
	// ErrQueueEmpty: commands are delivered strictly in order.
	NextCommand(ctx context.Context, id EnrollmentID, now time.Time, lease time.Duration) (*Command, error)
	// PutResult records res for the pending command res.CommandUUID of id. A
	// final status (Acknowledged, Error, CommandFormatError) completes the
	// command; NotNow marks it to be skipped until ResetNotNow. Either way the
	// lease ends and Result returns res afterwards. ErrNotFound if the command
	// is not pending for id. Idle results are not passed to PutResult.
	PutResult(ctx context.Context, id EnrollmentID, res *CommandResult) error
	// ResetNotNow makes commands marked NotNow deliverable again for ids.
	ResetNotNow(ctx context.Context, ids []EnrollmentID) error
	// Result returns the latest result id reported for the command uuid, or
	// ErrNotFound. The returned Status, CommandUUID, ErrorChain, Identifiers,
	// Raw and ReceivedAt are as stored.
	Result(ctx context.Context, id EnrollmentID, uuid string) (*CommandResult, error)

	// ExpireCommands completes up to limit pending commands (NotNow ones
	// included) whose ExpiresAt is set and not after now, and returns how
	// many it completed. Each gets the result {CommandUUID, Status:
	// StatusExpired, ReceivedAt: now}, which Result returns from then on.
	// Whether ExpireCommands has run or not, NextCommand never hands out a
	// command whose ExpiresAt is not after its now, and skips it as if it
	// were not queued; a result the device reports for it while it is still
	// pending is stored as usual.
	ExpireCommands(ctx context.Context, now time.Time, limit int) (int, error)
	// ClaimLapsedLeases returns the enrollments of up to limit commands
	// whose response was lost: still pending (not NotNow), handed out by
	// NextCommand, with a lease that ended at or before now, not expired
	// (see ExpireCommands), and due for a re-push — never claimed before,
	// or claimed last with a due time not after now. For each it counts
	// one more re-push, n in all for that command, and makes it due again
	// at now+wait(n); until then, and while a new lease runs, it is not
	// claimed again, also not by another process. The count lives as long
	// as the command is pending: leasing it again does not reset it. An
	// enrollment appears once per claimed command.
	ClaimLapsedLeases(ctx context.Context, now time.Time, limit int, wait func(repushes int) time.Duration) ([]EnrollmentID, error)
}

// Cutoffs say what Store.Prune may delete: what ended before them. A zero
// time deletes nothing of its kind.
type Cutoffs struct {
	// Results: completed commands (acknowledged, failed or expired) whose
	// result's ReceivedAt is before Results, with the result.
	Results time.Time
	// CheckedOut: records of enrollments that are checked out and whose
	// UpdatedAt is before CheckedOut, with their certificate binding, every
	// command still queued for them and every result.
	CheckedOut time.Time
}

// Store is everything the Service keeps: enrollments, bindings, queues and
// results. store/memory, store/sqlite and store/postgres implement it; run
// mdmtest.Run to prove another implementation.
type Store interface {
	EnrollmentStore
	CommandQueue

	// Prune deletes what before selects, at most limit items per call: a
	// completed command is one item, and so is a checked-out record with
	// its queue and results. It returns how many items it deleted; fewer
	// than limit means nothing more is due. Pending commands of enrollments
	// that are not checked out, and records that are not checked out, are
	// never deleted. Once a completed command is deleted its UUID may be
	// queued again for that enrollment.
	Prune(ctx context.Context, before Cutoffs, limit int) (int, error)
}
