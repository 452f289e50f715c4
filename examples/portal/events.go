package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
)

// EventType names what an event reports.
type EventType string

// The events the server tells the host about.
const (
	// EventStateChanged: an enrollment moved from one state to another
	// (or took a step within one, such as a wrong passcode).
	EventStateChanged EventType = "enrollment.state_changed"
	// EventCheckedIn: a device checked in (Authenticate, TokenUpdate).
	EventCheckedIn EventType = "device.checked_in"
	// EventCheckedOut: a device removed its enrollment (CheckOut).
	EventCheckedOut EventType = "device.checked_out"
	// EventCommandResult: a device reported the result of a command.
	EventCommandResult EventType = "command.result"
)

// Event is one thing that happened, as the host is told it: one JSON object
// whose type says which of the optional parts it carries.
type Event struct {
	// ID identifies the event: a receiver that sees it twice (a delivery
	// is retried until it is acknowledged) keeps the first.
	ID   string    `json:"id"`
	Type EventType `json:"type"`
	Time time.Time `json:"time"`
	// EnrollmentID is the enrollment the event belongs to; empty for a
	// device the server does not know an enrollment of.
	EnrollmentID string `json:"enrollment_id,omitempty"`
	// DeviceID is the MDM channel the device spoke on (its EnrollmentID
	// or UDID), for device events.
	DeviceID string `json:"device_id,omitempty"`

	StateChange   *StateChange   `json:"state_change,omitempty"`
	CheckIn       *CheckIn       `json:"check_in,omitempty"`
	CommandResult *CommandResult `json:"command_result,omitempty"`
}

// StateChange is an EventStateChanged's transition.
type StateChange struct {
	Event enroll.Event `json:"event"`
	From  enroll.State `json:"from,omitempty"`
	To    enroll.State `json:"to"`
	Actor string       `json:"actor,omitempty"`
}

// CheckIn is the message of an EventCheckedIn or EventCheckedOut.
type CheckIn struct {
	MessageType mdm.MessageType `json:"message_type"`
}

// CommandResult is an EventCommandResult's command and status.
type CommandResult struct {
	CommandUUID string     `json:"command_uuid"`
	Status      mdm.Status `json:"status"`
}

// key is what events are ordered by: the enrollment, or the device for one
// without.
func (e *Event) key() string {
	if e.EnrollmentID != "" {
		return "enrollment:" + e.EnrollmentID
	}
	return "device:" + e.DeviceID
}

// events turns the SDK's hooks (enroll.Config.OnTransition and an
// mdm.Observer) into Events for one hook, emit.
type events struct {
	// emit is told every event, for each enrollment in the order its
	// hooks were called (which, for steps racing on one enrollment, may
	// differ from the order they were stored); it must not block.
	emit func(context.Context, Event)
	// find returns the enrollment of a device channel, nil if none.
	find func(ctx context.Context, deviceID string) *enroll.Enrollment
	now  func() time.Time
}

// transition is enroll.Config.OnTransition.
func (h *events) transition(ctx context.Context, a enroll.AuditEvent) {
	h.emit(ctx, Event{
		ID: newUUID(), Type: EventStateChanged, Time: a.Time.UTC(), EnrollmentID: a.EnrollmentID,
		StateChange: &StateChange{Event: a.Event, From: a.From, To: a.To, Actor: a.Actor},
	})
}

// Observe implements mdm.Observer. It never fails the device's request.
func (h *events) Observe(ctx context.Context, ev *mdm.Event) error {
	out := Event{ID: newUUID(), Time: h.now().UTC(), DeviceID: string(ev.Enrollment.ID)}
	switch ev.Kind {
	case mdm.EventAuthenticate, mdm.EventTokenUpdate:
		out.Type = EventCheckedIn
	case mdm.EventCheckOut:
		out.Type = EventCheckedOut
	case mdm.EventCommandResult:
		out.Type = EventCommandResult
		out.CommandResult = &CommandResult{CommandUUID: ev.Result.CommandUUID, Status: ev.Result.Status}
	default:
		return nil
	}
	if ev.Message != nil {
		out.CheckIn = &CheckIn{MessageType: ev.Message.CheckinHeader().MessageType}
	}
	device := ev.Enrollment.ID
	if ev.Enrollment.Type.IsUserChannel() {
		device = ev.Enrollment.ParentID // a Mac's user channel: its device's enrollment
	}
	if e := h.find(ctx, string(device)); e != nil {
		out.EnrollmentID = e.ID
	}
	h.emit(ctx, out)
	return nil
}

// newEvents sets up the events for the host: with -webhook-url, a webhook
// sender signing with the secret in -webhook-secret-file. Without it
// st.events stays nil and no event is made.
func (st *stack) newEvents() error {
	if st.cfg.WebhookURL == "" {
		return nil
	}
	if st.cfg.WebhookSecretFile == "" {
		return errors.New("-webhook-url needs -webhook-secret-file")
	}
	b, err := os.ReadFile(st.cfg.WebhookSecretFile)
	if err != nil {
		return fmt.Errorf("-webhook-secret-file: %w", err)
	}
	secret := []byte(strings.TrimSpace(string(b)))
	if len(secret) < 16 {
		return errors.New("-webhook-secret-file: the secret must be at least 16 bytes")
	}
	st.webhook = newWebhook(st.cfg.WebhookURL, secret, st.logger.With("component", "webhook"))
	st.events = &events{emit: st.webhook.send, find: st.deviceEnrollment, now: time.Now}
	return nil
}

// deviceEnrollment returns the enrollment of a device channel, nil if none.
func (st *stack) deviceEnrollment(ctx context.Context, deviceID string) *enroll.Enrollment {
	e, err := st.enroll.Store().Find(ctx, enroll.IndexDevice, deviceID)
	if err != nil {
		return nil
	}
	return e
}

// transitioned is enroll.Config.OnTransition: metrics, and events if on.
func (st *stack) transitioned(ctx context.Context, a enroll.AuditEvent) {
	st.metrics.transition(ctx, a)
	if st.events != nil {
		st.events.transition(ctx, a)
	}
}
