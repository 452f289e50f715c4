package ddm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
)

var (
	_ mdm.Responder = (*Service)(nil)
	_ mdm.Observer  = (*Service)(nil)
)

// Endpoints of the DeclarativeManagement check-in.
const (
	EndpointTokens           = "tokens"
	EndpointDeclarationItems = "declaration-items"
	EndpointStatus           = "status"
	// EndpointDeclaration is followed by <class>/<identifier>.
	EndpointDeclaration = "declaration/"
)

// Respond answers a DeclarativeManagement check-in and hands every other
// message to Config.Next. mdm calls it only after it has verified the
// device's identity and tied the request to its enrollment
// (r.Enrollment), as for every check-in; the device is served only what its
// own enrollment is assigned and allowed.
//
// Answers: tokens and declaration-items as JSON; declaration/<class>/<id>
// the declaration, or an error matching mdm.ErrUnsupported (404) when it is
// not served to this enrollment (unknown, withheld, or of another class);
// status an empty body once the report is stored. A malformed status report
// or an unknown endpoint gets an error matching mdm.ErrMalformed (400)
// and changes nothing.
func (s *Service) Respond(ctx context.Context, r *mdm.Request) ([]byte, error) {
	m, ok := r.Message.(*mdm.DeclarativeManagement)
	if !ok {
		if s.cfg.Next != nil {
			return s.cfg.Next.Respond(ctx, r)
		}
		return nil, fmt.Errorf("%w: %s", mdm.ErrUnsupported, r.Message.CheckinHeader().MessageType)
	}
	id := r.Enrollment.ID
	switch ep := m.Endpoint; {
	case ep == EndpointTokens:
		st, _, err := s.current(ctx, id)
		if err != nil {
			return nil, err
		}
		return json.Marshal(tokensResponse(st))
	case ep == EndpointDeclarationItems:
		st, _, err := s.current(ctx, id)
		if err != nil {
			return nil, err
		}
		return json.Marshal(itemsResponse(st))
	case strings.HasPrefix(ep, EndpointDeclaration):
		return s.declaration(ctx, id, strings.TrimPrefix(ep, EndpointDeclaration))
	case ep == EndpointStatus:
		return nil, s.status(ctx, id, m.Data)
	}
	return nil, &deviceInputError{kind: ErrUnknownEndpoint, err: fmt.Errorf("%.64q", m.Endpoint)}
}

// Observe queues the DeclarativeManagement command for an enrollment at a
// TokenUpdate that starts or renews its channel: the first one turns
// declarative management on in a newly enrolled device, and one after the
// device authenticated again (a device enrollment keeps its UDID, and its
// declarations were wiped) or renewed its push token makes it check its
// tokens, which costs a device that is up to date one request. A
// TokenUpdate that repeats the stored token of an enrolled channel queues
// nothing.
//
// Declarations are served to device channels: a Mac's user channel
// TokenUpdate queues nothing.
func (s *Service) Observe(ctx context.Context, ev *mdm.Event) error {
	if ev.Kind != mdm.EventTokenUpdate || ev.Enrollment.Type.IsUserChannel() {
		return nil
	}
	if p := ev.Previous; p != nil && p.Enrolled && !p.CheckedOut {
		if tu, ok := ev.Message.(*mdm.TokenUpdate); ok && bytes.Equal(p.Token, tu.Token) {
			return nil // a repeated TokenUpdate: nothing new to announce
		}
	}
	st, _, err := s.current(ctx, ev.Enrollment.ID)
	if err != nil {
		return fmt.Errorf("ddm: observe %s: %w", ev.Enrollment.ID, err)
	}
	// The TokenUpdate has just recorded the channel enrolled (mdm observes
	// after storing it), so the record need not be read again; one that
	// checked out since syncs when it enrolls again.
	if err := s.queue(ctx, []*SyncState{st}); err != nil && !errors.Is(err, mdm.ErrNotFound) {
		return err
	}
	return nil
}

// syncTokens is the SyncTokens object of the tokens response and of the
// DeclarativeManagement command.
type syncTokens struct {
	DeclarationsToken string
	Timestamp         string
}

func tokensOf(st *SyncState) syncTokens {
	return syncTokens{st.DeclarationsToken, st.Timestamp.UTC().Format(time.RFC3339)}
}

func tokensResponse(st *SyncState) any {
	return struct{ SyncTokens syncTokens }{tokensOf(st)}
}

type wireItem struct {
	Identifier  string
	ServerToken string
}

func itemsResponse(st *SyncState) any {
	decls := map[string][]wireItem{"Activations": {}, "Assets": {}, "Configurations": {}, "Management": {}}
	key := map[Class]string{ClassActivation: "Activations", ClassAsset: "Assets", ClassConfiguration: "Configurations", ClassManagement: "Management"}
	for _, it := range st.Items {
		decls[key[it.Class]] = append(decls[key[it.Class]], wireItem{it.Identifier, it.ServerToken})
	}
	return struct {
		Declarations      map[string][]wireItem
		DeclarationsToken string
	}{decls, st.DeclarationsToken}
}

// declaration answers declaration/<class>/<identifier>: only a declaration
// the enrollment is served.
func (s *Service) declaration(ctx context.Context, id mdm.EnrollmentID, rest string) ([]byte, error) {
	class, ident, ok := strings.Cut(rest, "/")
	notServed := fmt.Errorf("%w: declaration %.64q not served to this enrollment", mdm.ErrUnsupported, rest)
	if !ok || ident == "" {
		return nil, notServed
	}
	st, err := s.store.SyncState(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, notServed
	}
	if err != nil {
		return nil, fmt.Errorf("ddm: declaration for %s: %w", id, err)
	}
	if !slices.ContainsFunc(st.Items, func(it Item) bool { return string(it.Class) == class && it.Identifier == ident }) {
		return nil, notServed
	}
	d := s.defaultDeclaration(ident)
	if d == nil {
		d, err = s.store.Declaration(ctx, ident)
		if errors.Is(err, ErrNotFound) {
			return nil, notServed // deleted since; the next sync drops it
		}
		if err != nil {
			return nil, fmt.Errorf("ddm: declaration for %s: %w", id, err)
		}
	}
	if string(d.Class()) != class {
		return nil, notServed
	}
	if r, _ := withhold(d, st.Device); r != "" {
		return nil, notServed // its type changed since; never sent
	}
	return json.Marshal(struct {
		Type        string
		Identifier  string
		ServerToken string
		Payload     json.RawMessage
	}{d.Type, d.Identifier, d.ServerToken(), d.Payload})
}

func (s *Service) defaultDeclaration(ident string) *Declaration {
	for _, d := range s.defaults {
		if d.Identifier == ident {
			return d
		}
	}
	return nil
}

// status stores a status report: the latest value of each item, each
// declaration's state, the errors; and the platform and OS release, which
// filtering uses from then on.
func (s *Service) status(ctx context.Context, id mdm.EnrollmentID, data []byte) error {
	rep, err := ParseStatusReport(data)
	if err != nil {
		return err
	}
	prev, err := s.store.Status(ctx, id)
	if errors.Is(err, ErrNotFound) {
		prev = &Status{Enrollment: id}
	} else if err != nil {
		return fmt.Errorf("ddm: status of %s: %w", id, err)
	}
	next := rep.merge(prev, s.cfg.Now().UTC())
	next.Enrollment = id
	// New facts are recorded before the report that brought them, so a
	// report retried after a failure records them again. They move only
	// this enrollment's facts revision: no other enrollment's state goes
	// stale.
	if facts := factsOf(next); facts != (Facts{}) && facts != factsOf(prev) {
		if err := s.store.PutFacts(ctx, map[mdm.EnrollmentID]Facts{id: facts}); err != nil {
			return fmt.Errorf("ddm: status of %s: %w", id, err)
		}
		if err := s.resync(ctx, id); err != nil {
			return err
		}
	}
	if err := s.store.PutStatus(ctx, next); err != nil {
		return fmt.Errorf("ddm: status of %s: %w", id, err)
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "ddm: status stored", slog.String("enrollment", string(id)), slog.Int("declarations", len(next.Declarations)))
	return nil
}

// factsOf returns the platform and OS release a status reports.
func factsOf(st *Status) Facts {
	return Facts{Platform: itemString(st.Items, "device.operating-system.family"), OSVersion: itemString(st.Items, "device.operating-system.version")}
}

func itemString(items map[string]json.RawMessage, name string) string {
	var s string
	json.Unmarshal(items[name], &s)
	return s
}
