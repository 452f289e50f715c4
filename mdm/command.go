package mdm

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"howett.net/plist"
)

// Command is a queued command: its UUID, its RequestType and the encoded
// plist {CommandUUID, Command: {RequestType, …}} the device receives.
type Command struct {
	// UUID is the CommandUUID.
	UUID string
	// RequestType is Command.RequestType, used by the enrollment policy.
	RequestType string
	// Raw is the plist body sent to the device.
	Raw []byte
	// ExpiresAt, if not zero, is when the command expires: from then on it
	// is never delivered, and once the Service's Sweep runs its result has
	// Status StatusExpired. Zero: it waits for the device however long.
	ExpiresAt time.Time
	// EnqueuedAt is when the command was queued; Service.Enqueue sets it
	// when zero. Stores keep it for QueueStats.
	EnqueuedAt time.Time
}

// QueueStats describes the commands still waiting for devices: queued and
// neither answered with a final status nor expired (a command answered
// NotNow still waits).
type QueueStats struct {
	// Pending counts them, over every enrollment.
	Pending int
	// OldestEnqueuedAt is the EnqueuedAt of the oldest of them; zero when
	// none waits or the oldest was queued before stores kept the time.
	OldestEnqueuedAt time.Time
}

// NewCommandUUID returns a new random (version 4) UUID in upper case, as
// MDM servers name commands, for NewCommand.
func NewCommandUUID() string {
	u, _ := newUUID(rand.Reader) // crypto/rand.Reader does not fail
	return strings.ToUpper(u)
}

// NewCommand encodes payload (a struct or map whose RequestType key names
// the command, plus the command's fields) under uuid as an XML plist.
func NewCommand(uuid string, payload any) (*Command, error) {
	if uuid == "" {
		return nil, fmt.Errorf("mdm: new command: empty CommandUUID")
	}
	raw, err := plist.MarshalIndent(struct {
		CommandUUID string
		Command     any
	}{uuid, payload}, plist.XMLFormat, "\t")
	if err != nil {
		return nil, fmt.Errorf("mdm: new command: %w", err)
	}
	return ParseCommand(raw)
}

// ParseCommand checks a raw command plist and returns it as a Command. It
// fails unless the plist has a CommandUUID and a Command with a RequestType.
func ParseCommand(raw []byte) (*Command, error) {
	var c struct {
		CommandUUID string
		Command     struct {
			RequestType string
		}
	}
	if !looksLikePlist(raw) {
		return nil, fmt.Errorf("mdm: parse command: %w: not an XML or binary property list", ErrMalformed)
	}
	if _, err := plist.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("mdm: parse command: %w: %v", ErrMalformed, err)
	}
	if c.CommandUUID == "" || c.Command.RequestType == "" {
		return nil, fmt.Errorf("mdm: parse command: %w: CommandUUID and Command.RequestType are required", ErrMalformed)
	}
	return &Command{UUID: c.CommandUUID, RequestType: c.Command.RequestType, Raw: bytes.Clone(raw)}, nil
}
