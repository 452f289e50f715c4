package mdm

import (
	"bytes"
	"fmt"
	"time"

	"github.com/enrollkit/enrollkit/internal/plistcheck"
	"howett.net/plist"
)

// MessageType names a check-in message.
type MessageType string

// Check-in message types.
const (
	MessageAuthenticate          MessageType = "Authenticate"
	MessageTokenUpdate           MessageType = "TokenUpdate"
	MessageCheckOut              MessageType = "CheckOut"
	MessageUserAuthenticate      MessageType = "UserAuthenticate"
	MessageSetBootstrapToken     MessageType = "SetBootstrapToken"
	MessageGetBootstrapToken     MessageType = "GetBootstrapToken"
	MessageDeclarativeManagement MessageType = "DeclarativeManagement"
	MessageGetToken              MessageType = "GetToken"
)

// Header is what every check-in message carries. It is embedded in each
// message type, which makes every *Authenticate, *TokenUpdate, ... a Message.
type Header struct {
	MessageType MessageType
	Topic       string `plist:",omitempty"`
	Identifiers
	// Raw is the request body the message was decoded from. It is shared,
	// not copied: do not modify it.
	Raw []byte `plist:"-"`
}

// CheckinHeader returns h.
func (h *Header) CheckinHeader() *Header { return h }

// Message is a decoded check-in message: one of *Authenticate,
// *TokenUpdate, *CheckOut, *UserAuthenticate, *SetBootstrapToken,
// *GetBootstrapToken, *DeclarativeManagement or *GetToken.
type Message interface {
	CheckinHeader() *Header
}

// Authenticate is the first message of an enrollment. A User Enrollment
// Authenticate carries only Topic, EnrollmentID, OSVersion, BuildVersion and
// ProductName.
type Authenticate struct {
	Header
	OSVersion    string `plist:",omitempty"`
	BuildVersion string `plist:",omitempty"`
	ProductName  string `plist:",omitempty"`
	SerialNumber string `plist:",omitempty"`
	IMEI         string `plist:",omitempty"`
	MEID         string `plist:",omitempty"`
	DeviceName   string `plist:",omitempty"`
	Model        string `plist:",omitempty"`
	ModelName    string `plist:",omitempty"`
}

// TokenUpdate reports (or renews) the push token of a channel; the first one
// completes enrollment.
type TokenUpdate struct {
	Header
	Token                 []byte `plist:",omitempty"`
	PushMagic             string `plist:",omitempty"`
	UnlockToken           []byte `plist:",omitempty"`
	AwaitingConfiguration bool   `plist:",omitempty"`
	NotOnConsole          bool   `plist:",omitempty"`
}

// CheckOut tells the server the MDM profile was removed.
type CheckOut struct {
	Header
}

// UserAuthenticate asks whether a network user needs a digest challenge.
type UserAuthenticate struct {
	Header
	DigestResponse string `plist:",omitempty"`
}

// SetBootstrapToken escrows a bootstrap token.
type SetBootstrapToken struct {
	Header
	BootstrapToken        []byte `plist:",omitempty"`
	AwaitingConfiguration bool   `plist:",omitempty"`
}

// GetBootstrapToken asks for the escrowed bootstrap token.
type GetBootstrapToken struct {
	Header
	AwaitingConfiguration bool `plist:",omitempty"`
}

// DeclarativeManagement is a declarative device management request.
type DeclarativeManagement struct {
	Header
	Endpoint string `plist:",omitempty"`
	Data     []byte `plist:",omitempty"`
}

// GetToken asks the server for a token of a given service type.
type GetToken struct {
	Header
	TokenServiceType string         `plist:",omitempty"`
	TokenParameters  map[string]any `plist:",omitempty"`
}

// Status is the Status of a command result.
type Status string

// Command result statuses.
const (
	StatusAcknowledged       Status = "Acknowledged"
	StatusError              Status = "Error"
	StatusCommandFormatError Status = "CommandFormatError"
	StatusIdle               Status = "Idle"
	StatusNotNow             Status = "NotNow"
	// StatusExpired is never sent by a device: the Service records it as
	// the result of a command whose ExpiresAt passed before the device
	// answered it. It is final, and Valid reports false for it, so a device
	// that sends it is refused.
	StatusExpired Status = "Expired"
)

// Valid reports whether s is one of the five statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusAcknowledged, StatusError, StatusCommandFormatError, StatusIdle, StatusNotNow:
		return true
	}
	return false
}

// Final reports whether s completes a command (Acknowledged, Error,
// CommandFormatError, Expired): it is not delivered again.
func (s Status) Final() bool {
	return s == StatusAcknowledged || s == StatusError || s == StatusCommandFormatError || s == StatusExpired
}

// ErrorChainItem is one entry of a command result's ErrorChain.
type ErrorChainItem struct {
	ErrorCode            int    `plist:",omitempty"`
	ErrorDomain          string `plist:",omitempty"`
	LocalizedDescription string `plist:",omitempty"`
	USEnglishDescription string `plist:",omitempty"`
}

// CommandResult is what a device sends to the server URL: the result of a
// command, or Idle when it asks for the first command.
type CommandResult struct {
	Identifiers
	Status       Status
	CommandUUID  string           `plist:",omitempty"`
	ErrorChain   []ErrorChainItem `plist:",omitempty"`
	NotOnConsole bool             `plist:",omitempty"`
	// Raw is the whole body, which keeps every result key. It is shared, not
	// copied: do not modify it.
	Raw []byte `plist:"-"`
	// ReceivedAt is when the Service received the result (or, for
	// StatusExpired, recorded the expiry); it is not part of the device's
	// message. Stores keep it, and Prune goes by it.
	ReceivedAt time.Time `plist:"-"`
}

// wire is every key a device message may carry, decoded in one pass.
type wire struct {
	MessageType string
	Status      string
	CommandUUID string
	ErrorChain  []ErrorChainItem

	Topic string
	Identifiers

	OSVersion, BuildVersion, ProductName, SerialNumber, IMEI, MEID string
	DeviceName, Model, ModelName                                   string

	Token                 []byte
	PushMagic             string
	UnlockToken           []byte
	AwaitingConfiguration bool
	NotOnConsole          bool

	DigestResponse   string
	BootstrapToken   []byte
	Endpoint         string
	Data             []byte
	TokenServiceType string
	TokenParameters  map[string]any
}

// DefaultMaxCheckinBytes bounds a check-in body unless configured otherwise.
// Authenticate, TokenUpdate, CheckOut and the bootstrap token messages are
// a few kilobytes; the largest check-in is a DeclarativeManagement status
// report, whose Data lists every declaration's state, tens of kilobytes for
// a personal device's handful of managed declarations. 256 KiB leaves ten
// times that.
const DefaultMaxCheckinBytes = 256 << 10

// DefaultMaxCommandBytes bounds a command result body unless configured
// otherwise. The largest results list things: InstalledApplicationList,
// CertificateList, ProfileList, about 600 bytes of XML per entry, and under
// User Enrollment they list only what the MDM installed. 4 MiB holds some
// 7000 applications. Every byte accepted may cost the decoder up to
// plistcheck's MaxCostPerByte more, so the limit is kept to what devices
// send.
const DefaultMaxCommandBytes = 4 << 20

func decodeWire(body []byte, w *wire) error {
	if !looksLikePlist(body) {
		return &DecodeError{Err: fmt.Errorf("%w: not an XML or binary property list", ErrMalformed)}
	}
	// The fast path allocates only the values of the keys it knows, less
	// than the body's size.
	if decodeFastXML(body, w) {
		return nil
	}
	return decodePlist(body, w)
}

// decodePlist decodes body into w with the general plist decoder, the path
// for every body the fast path does not take.
func decodePlist(body []byte, w *wire) error {
	// Before the general decoder: a binary body whose shared containers
	// would expand, XML nested deeper than any device writes, or values
	// packed denser than any device writes them cost it far more than the
	// body's size.
	if err := plistcheck.Check(body); err != nil {
		return &DecodeError{Err: fmt.Errorf("%w: %w", ErrMalformed, err)}
	}
	*w = wire{}
	d := plist.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(w); err != nil {
		return &DecodeError{Err: fmt.Errorf("%w: %v", ErrMalformed, err)}
	}
	if d.Format != plist.XMLFormat && d.Format != plist.BinaryFormat {
		return &DecodeError{Err: fmt.Errorf("%w: not an XML or binary property list", ErrMalformed)}
	}
	return nil
}

// looksLikePlist accepts binary plists and XML documents; the text (OpenStep)
// formats, which the plist package would also try, are not device formats.
func looksLikePlist(b []byte) bool {
	if bytes.HasPrefix(b, []byte("bplist")) {
		return true
	}
	b = bytes.TrimLeft(b, " \t\r\n\ufeff")
	return len(b) > 0 && b[0] == '<'
}

// DecodeCheckin decodes a check-in body (XML or binary plist) into its typed
// message. Errors are *DecodeError wrapping ErrMalformed (including keys of the
// wrong type), ErrMissingMessageType, ErrUnknownMessageType or
// ErrNoEnrollmentID. The message keeps body as its Raw field.
func DecodeCheckin(body []byte) (Message, error) {
	var w wire
	if err := decodeWire(body, &w); err != nil {
		return nil, err
	}
	return w.checkin(body)
}

func (w *wire) checkin(body []byte) (Message, error) {
	h := Header{MessageType: MessageType(w.MessageType), Topic: w.Topic, Identifiers: w.Identifiers, Raw: body}
	if _, err := h.Identifiers.Resolve(); err != nil {
		return nil, err
	}
	switch h.MessageType {
	case "":
		return nil, &DecodeError{Field: "MessageType", Err: ErrMissingMessageType}
	case MessageAuthenticate:
		return &Authenticate{Header: h, OSVersion: w.OSVersion, BuildVersion: w.BuildVersion, ProductName: w.ProductName,
			SerialNumber: w.SerialNumber, IMEI: w.IMEI, MEID: w.MEID, DeviceName: w.DeviceName, Model: w.Model, ModelName: w.ModelName}, nil
	case MessageTokenUpdate:
		if len(w.Token) == 0 || w.PushMagic == "" {
			return nil, &DecodeError{Field: "Token", Err: fmt.Errorf("%w: TokenUpdate without Token or PushMagic", ErrMalformed)}
		}
		return &TokenUpdate{Header: h, Token: w.Token, PushMagic: w.PushMagic, UnlockToken: w.UnlockToken,
			AwaitingConfiguration: w.AwaitingConfiguration, NotOnConsole: w.NotOnConsole}, nil
	case MessageCheckOut:
		return &CheckOut{Header: h}, nil
	case MessageUserAuthenticate:
		return &UserAuthenticate{Header: h, DigestResponse: w.DigestResponse}, nil
	case MessageSetBootstrapToken:
		return &SetBootstrapToken{Header: h, BootstrapToken: w.BootstrapToken, AwaitingConfiguration: w.AwaitingConfiguration}, nil
	case MessageGetBootstrapToken:
		return &GetBootstrapToken{Header: h, AwaitingConfiguration: w.AwaitingConfiguration}, nil
	case MessageDeclarativeManagement:
		return &DeclarativeManagement{Header: h, Endpoint: w.Endpoint, Data: w.Data}, nil
	case MessageGetToken:
		if w.TokenServiceType == "" {
			return nil, &DecodeError{Field: "TokenServiceType", Err: fmt.Errorf("%w: GetToken without TokenServiceType", ErrMalformed)}
		}
		return &GetToken{Header: h, TokenServiceType: w.TokenServiceType, TokenParameters: w.TokenParameters}, nil
	}
	return nil, &DecodeError{Field: "MessageType", Err: fmt.Errorf("%w: %q", ErrUnknownMessageType, truncate(w.MessageType))}
}

// DecodeCommandResult decodes a body sent to the server URL. Errors are
// *DecodeError wrapping ErrMalformed, ErrUnknownStatus or ErrNoEnrollmentID.
func DecodeCommandResult(body []byte) (*CommandResult, error) {
	var w wire
	if err := decodeWire(body, &w); err != nil {
		return nil, err
	}
	return w.result(body)
}

func (w *wire) result(body []byte) (*CommandResult, error) {
	r := &CommandResult{Identifiers: w.Identifiers, Status: Status(w.Status), CommandUUID: w.CommandUUID,
		ErrorChain: w.ErrorChain, NotOnConsole: w.NotOnConsole, Raw: body}
	if _, err := r.Identifiers.Resolve(); err != nil {
		return nil, err
	}
	if !r.Status.Valid() {
		return nil, &DecodeError{Field: "Status", Err: fmt.Errorf("%w: %q", ErrUnknownStatus, truncate(w.Status))}
	}
	if r.Status != StatusIdle && r.CommandUUID == "" {
		return nil, &DecodeError{Field: "CommandUUID", Err: fmt.Errorf("%w: %s result without CommandUUID", ErrMalformed, r.Status)}
	}
	return r, nil
}

// decode decodes either kind of device message, as one endpoint serving both
// the check-in and the server URL must: a body with MessageType is a check-in
// (returned as a Message), one with Status is a command result (returned as
// *CommandResult).
func decode(body []byte) (any, error) {
	var w wire
	if err := decodeWire(body, &w); err != nil {
		return nil, err
	}
	switch {
	case w.MessageType != "":
		return w.checkin(body)
	case w.Status != "":
		// Not return w.result(body): a nil *CommandResult in the any
		// would make the value non-nil alongside the error.
		r, err := w.result(body)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	return nil, &DecodeError{Field: "MessageType", Err: fmt.Errorf("%w: neither MessageType nor Status", ErrMissingMessageType)}
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
