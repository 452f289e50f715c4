package ddm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
)

// MDM is what the Service needs of package mdm: an enrollment's record
// (its type, and the platform and OS from Authenticate), the records of
// many at once for a fan-out (an ID without a record absent), and the
// command queue. *mdm.Service implements it.
type MDM interface {
	Enrollment(ctx context.Context, id mdm.EnrollmentID) (*mdm.EnrollmentRecord, error)
	Enrollments(ctx context.Context, ids []mdm.EnrollmentID) (map[mdm.EnrollmentID]*mdm.EnrollmentRecord, error)
	Enqueue(ctx context.Context, cmd *mdm.Command, ids ...mdm.EnrollmentID) ([]mdm.PushResult, error)
}

// Config configures a Service. The zero value of every field has a
// documented default.
type Config struct {
	// Next answers the check-in messages other than DeclarativeManagement
	// (GetToken, bootstrap tokens). Nil: they get 404.
	Next mdm.Responder
	// NoDefaultSubscriptions leaves out the default management
	// declarations: a status subscription to the items a BYOD
	// administrator needs (DefaultStatusItems) and its activation, which
	// every enrollment otherwise gets. Without them a device reports its
	// platform and OS release only if the host subscribes to them.
	NoDefaultSubscriptions bool
	// Assets holds the data the AssetHandler serves. Nil: none (404).
	Assets AssetSource
	// ACMECredentials holds the data of ACME credential assets
	// (CredentialACMEType), which differs by enrollment: an
	// *acme.Credentials. Nil: their data comes from Assets like any
	// other's.
	ACMECredentials AssetSource
	// Logger receives diagnostics. Nil: discard.
	Logger *slog.Logger
	// Now returns the current time. Nil: time.Now.
	Now func() time.Time
}

// Service manages declarations and answers the DeclarativeManagement
// check-in. It is an mdm.Responder; it is safe for concurrent use.
type Service struct {
	store    Store
	mdm      MDM
	cfg      Config
	log      *slog.Logger
	defaults []*Declaration
}

// New returns a Service on store that reads enrollments from and queues
// commands through m (the mdm.Service whose Responder it is). It fails when
// store or m is nil.
func New(store Store, m MDM, cfg Config) (*Service, error) {
	if store == nil || m == nil {
		return nil, errors.New("ddm: New: nil Store or MDM")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Service{store: store, mdm: m, cfg: cfg, log: log}
	if !cfg.NoDefaultSubscriptions {
		s.defaults = defaults
	}
	return s, nil
}

// Default management declarations.
const (
	// DefaultSubscriptionsIdentifier is the default status subscription.
	DefaultSubscriptionsIdentifier = "com.enrollkit.default.status-subscriptions"
	// DefaultActivationIdentifier activates it.
	DefaultActivationIdentifier = "com.enrollkit.default.activation"
)

// DefaultStatusItems are the status items the default subscription asks
// every device for: what filtering needs (platform and OS release) and what
// a BYOD administrator checks (passcode compliance, the model family).
// management.declarations is always reported.
var DefaultStatusItems = []string{
	"device.model.family",
	"device.operating-system.build-version",
	"device.operating-system.family",
	"device.operating-system.version",
	"management.client-capabilities",
	"passcode.is-compliant",
	"passcode.is-present",
}

// defaults are the default management declarations, built once; they are
// never modified.
var defaults = defaultDeclarations()

func defaultDeclarations() []*Declaration {
	type item struct{ Name string }
	var items []item
	for _, n := range DefaultStatusItems {
		items = append(items, item{n})
	}
	sub, _ := json.Marshal(map[string]any{"StatusItems": items})
	act, _ := json.Marshal(map[string]any{"StandardConfigurations": []string{DefaultSubscriptionsIdentifier}})
	var out []*Declaration
	for _, d := range []*Declaration{
		{Identifier: DefaultSubscriptionsIdentifier, Type: "com.apple.configuration.management.status-subscriptions", Payload: sub},
		{Identifier: DefaultActivationIdentifier, Type: "com.apple.activation.simple", Payload: act},
	} {
		n, err := d.normalize()
		if err != nil {
			panic(err) // a fixed declaration
		}
		out = append(out, n)
	}
	return out
}

// reserved reports whether identifier belongs to the default
// declarations, whether or not they are in use.
func reserved(identifier string) bool {
	return slices.ContainsFunc(defaults, func(d *Declaration) bool { return d.Identifier == identifier })
}

// maxAttempts bounds the retries of a catalog write that lost a race.
const maxAttempts = 20

// update applies the change edit makes to the catalog, after checking the
// whole result, by compare-and-swap on the revision; it retries when
// another writer came first. edit may read the store; it must not write.
// It returns the enrollments whose effective set may have changed, or nil
// for those whose assignment reaches a declaration the change adds,
// removes or alters (directly, through a set, or through a reference).
func (s *Service) update(ctx context.Context, op string, edit func(cat *Catalog) (*Change, []mdm.EnrollmentID, error)) error {
	for attempt := 0; ; attempt++ {
		cat, err := s.store.Catalog(ctx)
		if err != nil {
			return fmt.Errorf("ddm: %s: %w", op, err)
		}
		before := cat.clone()
		ch, affected, err := edit(cat)
		if err != nil {
			return err
		}
		if ch.empty() {
			err = nil
		} else if _, err = s.store.Apply(ctx, cat.Revision, ch); errors.Is(err, ErrConflict) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return fmt.Errorf("ddm: %s: %w", op, err)
		}
		if affected == nil {
			if affected, err = s.reaching(ctx, before, before.with(ch)); err != nil {
				return fmt.Errorf("ddm: %s: %w", op, err)
			}
		}
		return s.resync(ctx, affected...)
	}
}

// reaching returns the assigned enrollments whose assignment reaches
// different declarations in next than in prev, working each distinct
// assignment out once.
func (s *Service) reaching(ctx context.Context, prev, next *Catalog) ([]mdm.EnrollmentID, error) {
	as, err := s.store.Assignments(ctx)
	if err != nil {
		return nil, err
	}
	differs := map[string]bool{}
	out := []mdm.EnrollmentID{}
	for _, a := range as {
		key := a.key()
		d, ok := differs[key]
		if !ok {
			d = reach(prev, a) != reach(next, a)
			differs[key] = d
		}
		if d {
			out = append(out, a.Enrollment)
		}
	}
	return out, nil
}

// PutDeclaration creates or replaces a declaration. Its references must
// resolve (an activation's configurations, a configuration's assets), and
// what refers to it must still resolve. Errors: a *ValidationError, a
// *ReferenceError. Enrollments whose effective set changes are told.
func (s *Service) PutDeclaration(ctx context.Context, d *Declaration) error {
	n, err := d.normalize()
	if err != nil {
		return err
	}
	if reserved(n.Identifier) {
		return &ValidationError{What: "declaration " + n.Identifier, Field: "Identifier", Problem: "reserved for the default declarations"}
	}
	return s.update(ctx, "put declaration", func(cat *Catalog) (*Change, []mdm.EnrollmentID, error) {
		if old, ok := cat.Declarations[n.Identifier]; ok && old.ServerToken() == n.ServerToken() {
			return &Change{}, []mdm.EnrollmentID{}, nil
		}
		cat.Declarations[n.Identifier] = n
		if err := checkReferences(n, cat.Declarations); err != nil {
			return nil, nil, err
		}
		for _, other := range cat.Declarations {
			if err := checkReferences(other, cat.Declarations); err != nil {
				return nil, nil, err // n changed class or type under a reference
			}
		}
		return &Change{PutDeclarations: []*Declaration{n}}, nil, nil
	})
}

// DeleteDeclaration deletes a declaration nothing refers to. Errors:
// ErrNotFound, ErrInUse (wrapped in a *ReferenceError naming the first
// referrer).
func (s *Service) DeleteDeclaration(ctx context.Context, identifier string) error {
	return s.update(ctx, "delete declaration", func(cat *Catalog) (*Change, []mdm.EnrollmentID, error) {
		if _, ok := cat.Declarations[identifier]; !ok {
			return nil, nil, fmt.Errorf("ddm: delete declaration %q: %w", identifier, ErrNotFound)
		}
		for _, d := range cat.Declarations {
			for _, r := range d.references() {
				if r.to == identifier {
					return nil, nil, fmt.Errorf("ddm: delete declaration %q: %w: %s refers to it", identifier, ErrInUse, d.Identifier)
				}
			}
		}
		for name, members := range cat.Sets {
			if slices.Contains(members, identifier) {
				return nil, nil, fmt.Errorf("ddm: delete declaration %q: %w: set %q holds it", identifier, ErrInUse, name)
			}
		}
		if err := s.unassigned(ctx, "declaration", identifier, func(a *Assignment) []string { return a.Declarations }); err != nil {
			return nil, nil, err
		}
		return &Change{DeleteDeclarations: []string{identifier}}, []mdm.EnrollmentID{}, nil
	})
}

// unassigned returns ErrInUse (wrapped) when an assignment lists name among
// what field returns.
func (s *Service) unassigned(ctx context.Context, what, name string, field func(*Assignment) []string) error {
	as, err := s.store.Assignments(ctx)
	if err != nil {
		return err
	}
	for _, a := range as {
		if slices.Contains(field(a), name) {
			return fmt.Errorf("ddm: delete %s %q: %w: assigned to %s", what, name, ErrInUse, a.Enrollment)
		}
	}
	return nil
}

// Declarations returns every declaration, sorted by identifier.
func (s *Service) Declarations(ctx context.Context) ([]*Declaration, error) {
	cat, err := s.store.Catalog(ctx)
	if err != nil {
		return nil, fmt.Errorf("ddm: declarations: %w", err)
	}
	out := make([]*Declaration, 0, len(cat.Declarations))
	for _, d := range cat.Declarations {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *Declaration) int { return cmpString(a.Identifier, b.Identifier) })
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// PutSet creates or replaces the set name with the declarations members,
// which must exist.
func (s *Service) PutSet(ctx context.Context, name string, members []string) error {
	members = slices.Compact(slices.Sorted(slices.Values(members)))
	return s.update(ctx, "put set", func(cat *Catalog) (*Change, []mdm.EnrollmentID, error) {
		if err := checkSet(name, members, cat.Declarations); err != nil {
			return nil, nil, err
		}
		return &Change{PutSets: map[string][]string{name: members}}, nil, nil
	})
}

// DeleteSet deletes a set no enrollment is assigned. Errors: ErrNotFound,
// ErrInUse.
func (s *Service) DeleteSet(ctx context.Context, name string) error {
	return s.update(ctx, "delete set", func(cat *Catalog) (*Change, []mdm.EnrollmentID, error) {
		if _, ok := cat.Sets[name]; !ok {
			return nil, nil, fmt.Errorf("ddm: delete set %q: %w", name, ErrNotFound)
		}
		if err := s.unassigned(ctx, "set", name, func(a *Assignment) []string { return a.Sets }); err != nil {
			return nil, nil, err
		}
		return &Change{DeleteSets: []string{name}}, []mdm.EnrollmentID{}, nil
	})
}

// Sets returns every set by name.
func (s *Service) Sets(ctx context.Context) (map[string][]string, error) {
	cat, err := s.store.Catalog(ctx)
	if err != nil {
		return nil, fmt.Errorf("ddm: sets: %w", err)
	}
	return cat.Sets, nil
}

// Assign replaces what a.Enrollment is assigned; an Assignment without
// sets and declarations removes it. Every set and declaration named must
// exist, and everything they need must resolve. If the enrollment's
// effective set changes, the DeclarativeManagement command is queued for it
// and it is pushed.
//
// The enrollment must be one mdm knows; otherwise the error matches
// mdm.ErrNotFound and nothing is written.
func (s *Service) Assign(ctx context.Context, a Assignment) error {
	return s.assign(ctx, -1, a)
}

// AssignIf is Assign only if the catalog is still at revision (a
// Snapshot's), for a read-modify-write of an assignment: when anything
// changed since, it returns ErrConflict and writes nothing.
func (s *Service) AssignIf(ctx context.Context, revision int64, a Assignment) error {
	return s.assign(ctx, revision, a)
}

func (s *Service) assign(ctx context.Context, revision int64, a Assignment) error {
	if _, err := s.mdm.Enrollment(ctx, a.Enrollment); err != nil {
		return fmt.Errorf("ddm: assign to %s: %w", a.Enrollment, err)
	}
	a.Sets = slices.Compact(slices.Sorted(slices.Values(a.Sets)))
	a.Declarations = slices.Compact(slices.Sorted(slices.Values(a.Declarations)))
	return s.update(ctx, "assign", func(cat *Catalog) (*Change, []mdm.EnrollmentID, error) {
		if revision >= 0 && cat.Revision != revision {
			return nil, nil, fmt.Errorf("ddm: assign %s at revision %d (now %d): %w", a.Enrollment, revision, cat.Revision, ErrConflict)
		}
		if err := checkAssignment(&a, cat); err != nil {
			return nil, nil, err
		}
		if _, _, err := effective(cat, &a, s.defaults, Device{}); err != nil {
			return nil, nil, err
		}
		return &Change{PutAssignments: []*Assignment{&a}}, []mdm.EnrollmentID{a.Enrollment}, nil
	})
}

// Preview returns what enrollment a.Enrollment would be served and what
// would be withheld from it, and why, if it were assigned a; nothing is
// written. Errors as Assign's, and mdm.ErrNotFound (wrapped) for an
// enrollment mdm does not know.
func (s *Service) Preview(ctx context.Context, a Assignment) (*SyncState, error) {
	snap, err := s.store.Snapshot(ctx, a.Enrollment)
	if err != nil {
		return nil, fmt.Errorf("ddm: preview: %w", err)
	}
	if err := checkAssignment(&a, &snap.Catalog); err != nil {
		return nil, err
	}
	snap.Assignment = &a
	return s.compute(ctx, a.Enrollment, snap, nil)
}

// Sync returns what the enrollment is served now and what is withheld,
// computing it if the catalog or the enrollment's facts changed since it
// was last computed.
func (s *Service) Sync(ctx context.Context, id mdm.EnrollmentID) (*SyncState, error) {
	st, _, err := s.current(ctx, id)
	return st, err
}

// Status returns the latest status the enrollment reported, or
// ErrNotFound.
func (s *Service) Status(ctx context.Context, id mdm.EnrollmentID) (*Status, error) {
	st, err := s.store.Status(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("ddm: status of %s: %w", id, err)
	}
	return st, nil
}

// compute works out what id is served at snap. prev, if not nil, is the
// state it replaces (for the timestamp).
func (s *Service) compute(ctx context.Context, id mdm.EnrollmentID, snap *Snapshot, prev *SyncState) (*SyncState, error) {
	_, dev, err := s.device(ctx, id, snap.Facts)
	if err != nil {
		return nil, err
	}
	served, withheld, err := effective(&snap.Catalog, snap.Assignment, s.defaults, dev)
	if err != nil {
		return nil, err
	}
	items, token := itemsOf(served)
	return s.state(id, snap.Revision, snap.FactsRevision, dev, items, token, withheld, prev), nil
}

// device returns id's mdm record and what filtering takes its device to
// be, given the facts it reported (nil: none).
func (s *Service) device(ctx context.Context, id mdm.EnrollmentID, facts *Facts) (*mdm.EnrollmentRecord, Device, error) {
	rec, err := s.mdm.Enrollment(ctx, id)
	if err != nil {
		return nil, Device{}, fmt.Errorf("ddm: enrollment %s: %w", id, err)
	}
	return rec, s.deviceOf(ctx, rec, nil, facts), nil
}

// deviceOf returns what filtering takes rec's device to be, given the
// facts it reported (nil: none). A user channel is on its parent's
// device, looked up in known first, then read.
func (s *Service) deviceOf(ctx context.Context, rec *mdm.EnrollmentRecord, known map[mdm.EnrollmentID]*mdm.EnrollmentRecord, facts *Facts) Device {
	product, osv := rec.ProductName, rec.OSVersion
	if rec.ParentID != "" {
		parent, ok := known[rec.ParentID]
		if !ok {
			var err error
			if parent, err = s.mdm.Enrollment(ctx, rec.ParentID); err != nil {
				parent = nil
			}
		}
		if parent != nil {
			product, osv = parent.ProductName, parent.OSVersion
		}
	}
	return deviceOf(rec.Type, product, osv, facts)
}

// state returns id's state at catalog revision rev and facts revision
// factsRev, serving items (whose token is token) and withholding withheld
// from dev; prev, if not nil, is the state it replaces: its timestamp stays
// when the token does.
func (s *Service) state(id mdm.EnrollmentID, rev, factsRev int64, dev Device, items []Item, token string, withheld []Withheld, prev *SyncState) *SyncState {
	st := &SyncState{Enrollment: id, Revision: rev, FactsRevision: factsRev, DeclarationsToken: token, Timestamp: s.cfg.Now().UTC().Truncate(time.Second),
		Items: items, Withheld: withheld, Device: dev}
	if prev != nil && prev.DeclarationsToken == token {
		st.Timestamp = prev.Timestamp
	}
	return st
}

// current returns id's state at the current catalog revision and facts
// revision, computing and storing it when the stored one is older. changed reports whether the
// DeclarationsToken differs from the one stored before.
func (s *Service) current(ctx context.Context, id mdm.EnrollmentID) (st *SyncState, changed bool, err error) {
	for attempt := 0; ; attempt++ {
		prev, err := s.store.SyncState(ctx, id)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, false, fmt.Errorf("ddm: sync state of %s: %w", id, err)
		}
		rev, factsRev, err := s.store.Revisions(ctx, id)
		if err != nil {
			return nil, false, fmt.Errorf("ddm: sync state of %s: %w", id, err)
		}
		if prev.currentAt(rev, factsRev) {
			return prev, false, nil
		}
		snap, err := s.store.Snapshot(ctx, id)
		if err != nil {
			return nil, false, fmt.Errorf("ddm: sync state of %s: %w", id, err)
		}
		st, err := s.compute(ctx, id, snap, prev)
		if err != nil {
			return nil, false, err
		}
		ok, err := s.store.PutSyncState(ctx, st)
		if err != nil {
			return nil, false, fmt.Errorf("ddm: sync state of %s: %w", id, err)
		}
		if ok {
			return st, prev == nil || prev.DeclarationsToken != st.DeclarationsToken, nil
		}
		if attempt >= maxAttempts {
			return nil, false, fmt.Errorf("ddm: sync state of %s: %w", id, ErrConflict)
		}
		// Another writer stored a newer state: read it again.
	}
}

// currentAt reports whether st (nil: none) is current at catalog revision
// rev and facts revision factsRev: computed at both or later.
func (st *SyncState) currentAt(rev, factsRev int64) bool {
	return st != nil && st.Revision >= rev && st.FactsRevision >= factsRev
}

// fanoutBatch is how many enrollments resync reads, computes and stores
// at once.
const fanoutBatch = 1000

// resync brings the state of ids up to date and, for each whose
// DeclarationsToken changed, queues the DeclarativeManagement command with
// the new SyncTokens and pushes the device. Enrollments mdm does not know
// yet, or no longer serves, are skipped: they sync when they check in.
//
// It works in batches: the states of a batch are read at one catalog
// revision and written in one transaction, each only if no state as new
// was stored meanwhile (as current does); what an
// assignment serves is worked out once per kind of device; and enrollments
// given the same SyncTokens share one command.
func (s *Service) resync(ctx context.Context, ids ...mdm.EnrollmentID) error {
	var errs []error
	for batch := range slices.Chunk(ids, fanoutBatch) {
		if err := s.resyncBatch(ctx, batch); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Service) resyncBatch(ctx context.Context, ids []mdm.EnrollmentID) error {
	snap, err := s.store.Snapshots(ctx, ids)
	if err != nil {
		return fmt.Errorf("ddm: resync: %w", err)
	}
	type servedSet struct {
		items    []Item
		token    string
		withheld []Withheld
	}
	type kind struct {
		assignment string
		dev        Device
	}
	served := map[kind]*servedSet{}
	var (
		errs   []error
		states []*SyncState
		recs   []*mdm.EnrollmentRecord
		stale  []mdm.EnrollmentID
	)
	for _, id := range ids {
		if !snap.States[id].currentAt(snap.Revision, snap.FactsRevisions[id]) {
			stale = append(stale, id)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	known, err := s.mdm.Enrollments(ctx, stale)
	if err != nil {
		return fmt.Errorf("ddm: resync: %w", err)
	}
	for _, id := range stale {
		prev := snap.States[id]
		rec, ok := known[id]
		if !ok {
			continue
		}
		var facts *Facts
		if f, ok := snap.Facts[id]; ok {
			facts = &f
		}
		dev := s.deviceOf(ctx, rec, known, facts)
		a := snap.Assignments[id]
		k := kind{a.key(), dev}
		set, ok := served[k]
		if !ok {
			decls, withheld, err := effective(&snap.Catalog, a, s.defaults, dev)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			items, token := itemsOf(decls)
			set = &servedSet{items, token, withheld}
			served[k] = set
		}
		states = append(states, s.state(id, snap.Revision, snap.FactsRevisions[id], dev, set.items, set.token, set.withheld, prev))
		recs = append(recs, rec)
	}
	if len(states) == 0 {
		return errors.Join(errs...)
	}
	stored, err := s.store.PutSyncStates(ctx, states)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("ddm: resync: %w", err))...)
	}
	// Enrollments given the same SyncTokens share a command.
	var order []syncTokens
	groups := map[syncTokens][]*SyncState{}
	for i, st := range states {
		prev := snap.States[st.Enrollment]
		if !stored[i] || prev != nil && prev.DeclarationsToken == st.DeclarationsToken || recs[i].CheckedOut || !recs[i].Enrolled {
			continue // a newer state was stored meanwhile, nothing changed, or it syncs when it enrolls
		}
		k := tokensOf(st)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], st)
	}
	for _, k := range order {
		if err := s.queue(ctx, groups[k]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// queue queues one DeclarativeManagement command for the enrollments of
// sts, which share their SyncTokens; mdm pushes the devices. When mdm
// refuses the whole batch (an enrollment checked out meanwhile, or one its
// policy refuses), each is queued on its own, so that one enrollment does
// not hold the others back, and those mdm no longer serves are skipped.
func (s *Service) queue(ctx context.Context, sts []*SyncState) error {
	data, err := json.Marshal(tokensResponse(sts[0]))
	if err != nil {
		return err
	}
	cmd, err := mdm.NewCommand(mdm.NewCommandUUID(), map[string]any{"RequestType": "DeclarativeManagement", "Data": data})
	if err != nil {
		return err
	}
	ids := make([]mdm.EnrollmentID, len(sts))
	for i, st := range sts {
		ids[i] = st.Enrollment
	}
	_, err = s.mdm.Enqueue(ctx, cmd, ids...)
	if errors.Is(err, mdm.ErrPushFailed) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "ddm: push failed; the devices sync at their next poll",
			slog.String("command_uuid", cmd.UUID), slog.Int("enrollments", len(ids)), slog.Any("err", err))
		err = nil
	}
	if len(sts) > 1 && err != nil {
		var errs []error
		for _, st := range sts {
			if err := s.queue(ctx, []*SyncState{st}); err != nil && !errors.Is(err, mdm.ErrNotFound) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	if err != nil {
		return fmt.Errorf("ddm: queue DeclarativeManagement for %s (%d enrollments): %w", ids[0], len(ids), err)
	}
	for _, st := range sts {
		s.log.LogAttrs(ctx, slog.LevelInfo, "ddm: sync queued", slog.String("enrollment", string(st.Enrollment)),
			slog.String("declarations_token", st.DeclarationsToken), slog.Int("items", len(st.Items)), slog.Int("withheld", len(st.Withheld)))
	}
	return nil
}
