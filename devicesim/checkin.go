package devicesim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/enrollkit/enrollkit/profile"
	"howett.net/plist"
)

// Check-in messages exactly as an iOS User Enrollment sends them: the
// device is named by EnrollmentID only; UDID, SerialNumber, IMEI, MEID and
// UnlockToken are never sent.
type authenticateMessage struct {
	BuildVersion string
	EnrollmentID string
	MessageType  string
	OSVersion    string
	ProductName  string
	Topic        string
}

type tokenUpdateMessage struct {
	EnrollmentID     string
	EnrollmentUserID string `plist:",omitempty"`
	MessageType      string
	PushMagic        string
	Token            []byte
	Topic            string
}

type checkOutMessage struct {
	EnrollmentID string
	MessageType  string
	Topic        string
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// deviceIdentity returns the device's attestation identity, issuing it on
// first use.
func (d *Device) deviceIdentity() (*x509.Certificate, *rsa.PrivateKey, error) {
	d.idOnce.Do(func() {
		d.idCert, d.idKey, d.idErr = d.deviceCA.NewIdentity()
	})
	return d.idCert, d.idKey, d.idErr
}

// Install verifies an enrollment profile and installs it as iOS does:
// checks its signature (against Options.ProfileRoots) and keys, obtains the
// identity over SCEP or ACME (see EnrollACME), then sends Authenticate and TokenUpdate to the
// CheckInURL. On success the device is enrolled and can Poll. A profile from
// RequestProfile must be account-driven (EnrollmentMode BYOD) and assigned
// to the account that signed in, and the access token received with it is
// sent on every MDM request.
func (d *Device) Install(ctx context.Context, raw []byte) error {
	info, err := checkProfile(raw, profileCheckOptions{Roots: d.opts.ProfileRoots, AllowInsecureURLs: d.opts.AllowInsecureURLs})
	if err != nil {
		return err
	}
	m := info.MDM
	d.mu.Lock()
	if d.enr != nil {
		d.mu.Unlock()
		return ErrAlreadyEnrolled
	}
	token, account := d.pendingAT, d.pendingID
	d.mu.Unlock()
	if token != "" && m.EnrollmentMode != profile.ModeBYOD {
		return &ProfileError{Reason: "account-driven enrollment served a profile without EnrollmentMode BYOD"}
	}
	if token != "" && !strings.EqualFold(info.ManagedAppleID, account) {
		return &ProfileError{Reason: fmt.Sprintf("AssignedManagedAppleID %q is not the account %q that signed in", info.ManagedAppleID, account)}
	}
	if token == "" && m.EnrollmentMode == profile.ModeBYOD {
		return &ProfileError{Reason: "EnrollmentMode BYOD profile installed outside account-driven enrollment"}
	}
	if token == "" && m.ManagedAppleID != "" && !d.profileBasedUE() {
		return &ProfileError{Reason: "profile-based User Enrollment (ManagedAppleID) was removed in iOS 18 and macOS 15; this device enrolls only account-driven"}
	}
	var cert *x509.Certificate
	var key crypto.Signer
	if info.ACME != nil {
		cert, key, err = d.enrollACME(ctx, info.ACME, true)
	} else {
		cert, key, err = d.enrollSCEP(ctx, info.SCEP)
	}
	if err != nil {
		return err
	}
	enrollmentID := d.opts.EnrollmentID
	if enrollmentID == "" {
		var b [20]byte
		if _, err := io.ReadFull(d.rand, b[:]); err != nil {
			return fmt.Errorf("devicesim: enrollment ID: %w", err)
		}
		enrollmentID = hex.EncodeToString(b[:]) // iOS writes a 40-hex-digit identifier
	}
	pushToken := make([]byte, 32)
	if _, err := io.ReadFull(d.rand, pushToken); err != nil {
		return fmt.Errorf("devicesim: push token: %w", err)
	}
	magic, err := d.randomUUID()
	if err != nil {
		return fmt.Errorf("devicesim: push magic: %w", err)
	}
	enr := &Enrollment{
		EnrollmentID: enrollmentID, AccountDriven: token != "",
		ManagedAppleID: info.ManagedAppleID, EnrollmentMode: string(m.EnrollmentMode),
		Topic: m.Topic, ServerURL: m.ServerURL, CheckInURL: info.CheckInURL,
		ProfileIdentifier: info.Profile.PayloadIdentifier, AccessToken: token,
		Certificate: cert, Key: key, Token: pushToken, PushMagic: magic,
		CheckOutWhenRemoved: m.CheckOutWhenRemoved, SignMessage: m.SignMessage,
		ServerCapabilities: slices.Clone(m.ServerCapabilities),
	}
	client, err := d.mdmClient(enr)
	if err != nil {
		return err
	}

	d.reqMu.Lock()
	defer d.reqMu.Unlock()
	if d.IsMac() && slices.Contains(m.ServerCapabilities, profile.CapabilityPerUserConnections) {
		// The user who installs the profile becomes the managed user: the
		// Mac's user channel starts after the device channel.
		if enr.EnrollmentUserID, err = d.randomUUID(); err != nil {
			return fmt.Errorf("devicesim: enrollment user ID: %w", err)
		}
		enr.UserToken = make([]byte, 32)
		if _, err := io.ReadFull(d.rand, enr.UserToken); err != nil {
			return fmt.Errorf("devicesim: push token: %w", err)
		}
		if enr.UserPushMagic, err = d.randomUUID(); err != nil {
			return fmt.Errorf("devicesim: push magic: %w", err)
		}
	}
	if _, err := d.checkin(ctx, client, enr, channelDevice, "Authenticate", authenticateMessage{
		BuildVersion: d.opts.BuildVersion, EnrollmentID: enrollmentID, MessageType: "Authenticate",
		OSVersion: d.opts.OSVersion, ProductName: d.opts.ProductName, Topic: m.Topic,
	}); err != nil {
		return err
	}
	d.mu.Lock()
	d.installing = enr
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.installing = nil
		d.mu.Unlock()
	}()
	if _, err := d.checkin(ctx, client, enr, channelDevice, "TokenUpdate", tokenUpdateMessage{
		EnrollmentID: enrollmentID, MessageType: "TokenUpdate", PushMagic: magic, Token: pushToken, Topic: m.Topic,
	}); err != nil {
		return err
	}
	if enr.EnrollmentUserID != "" {
		if _, err := d.checkin(ctx, client, enr, channelUser, "TokenUpdate (user)", tokenUpdateMessage{
			EnrollmentID: enrollmentID, EnrollmentUserID: enr.EnrollmentUserID, MessageType: "TokenUpdate",
			PushMagic: enr.UserPushMagic, Token: enr.UserToken, Topic: m.Topic,
		}); err != nil {
			return err
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.enr != nil {
		return ErrAlreadyEnrolled
	}
	d.enr, d.client, d.pendingAT = enr, client, ""
	d.profiles = append(d.profiles[:0], installedProfile{info: profileSummary(info.Profile, info.Chain)})
	d.log.InfoContext(ctx, "devicesim: enrolled", "enrollment_id", enrollmentID, "account_driven", enr.AccountDriven)
	return nil
}

// session returns the installed enrollment and its MDM client, or
// ErrNotEnrolled. The caller holds reqMu, which keeps them installed until
// it is done.
func (d *Device) session() (*Enrollment, *http.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.enr == nil {
		return nil, nil, ErrNotEnrolled
	}
	return d.enr, d.client, nil
}

// mdmClient returns the client for MDM requests: the base client, or a copy
// presenting the identity in TLS when the profile does not ask for
// Mdm-Signature.
func (d *Device) mdmClient(enr *Enrollment) (*http.Client, error) {
	if enr.SignMessage {
		return d.base, nil
	}
	var tr *http.Transport
	switch t := d.base.Transport.(type) {
	case nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		tr = t.Clone()
	default:
		return nil, fmt.Errorf("devicesim: SignMessage is false and the HTTP client's transport %T cannot present a TLS client certificate", t)
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.Certificates = []tls.Certificate{{Certificate: [][]byte{enr.Certificate.Raw}, PrivateKey: enr.Key, Leaf: enr.Certificate}}
	c := *d.base
	c.Transport = tr
	return &c, nil
}

// channel is the MDM channel a request goes over: every device has a
// device channel; a Mac also has a user channel.
type channel bool

const (
	channelDevice channel = false
	channelUser   channel = true
)

// checkin PUTs a check-in message to the CheckInURL.
func (d *Device) checkin(ctx context.Context, client *http.Client, enr *Enrollment, ch channel, op string, msg any) ([]byte, error) {
	return d.mdmRequest(ctx, client, enr, ch, enr.CheckInURL, "application/x-apple-aspen-mdm-checkin", "checkin "+op, msg)
}

// mdmRequest encodes msg as an XML plist and PUTs it to u over channel ch,
// signed as the enrollment requires, and returns the response body of a
// 200. An account-driven enrollment's bearer token goes with every request,
// except over a Mac's device channel, which never sends it.
func (d *Device) mdmRequest(ctx context.Context, client *http.Client, enr *Enrollment, ch channel, u, contentType, op string, msg any) ([]byte, error) {
	body, err := plist.Marshal(msg, plist.XMLFormat)
	if err != nil {
		return nil, fmt.Errorf("devicesim: %s: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("devicesim: %s: %w", op, err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", mdmUserAgent)
	if err := d.authenticateMDM(req, enr, ch, body); err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("devicesim: %s: %w", op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		herr := httpError(op, resp)
		if herr.unrecognized() {
			d.forget(ctx, enr)
		}
		return nil, herr
	}
	b, err := readLimited(resp.Body, maxMDMBytes)
	if err != nil {
		return nil, fmt.Errorf("devicesim: %s: %w", op, err)
	}
	d.log.DebugContext(ctx, "devicesim: mdm request", "op", op, "status", resp.StatusCode, "response_bytes", len(b))
	return b, nil
}

// authenticateMDM adds what proves the device on an MDM request with body
// over channel ch: the Mdm-Signature over it when the profile asks for one,
// and the bearer token of account-driven enrollment (never on a Mac's
// device channel).
func (d *Device) authenticateMDM(req *http.Request, enr *Enrollment, ch channel, body []byte) error {
	if enr.SignMessage {
		sig, err := MdmSignature(body, enr.Certificate, enr.Key, d.opts.Signature)
		if err != nil {
			return err
		}
		req.Header.Set("Mdm-Signature", sig)
	}
	if enr.AccessToken != "" && (ch == channelUser || !d.IsMac()) {
		req.Header.Set("Authorization", "Bearer "+enr.AccessToken)
	}
	return nil
}

// Remove removes the enrollment profile, as when the user taps Remove
// Management: the device sends CheckOut when the profile asked for it
// (CheckOutWhenRemoved), then forgets the enrollment. The enrollment is
// forgotten even if CheckOut fails; the error is returned.
func (d *Device) Remove(ctx context.Context) error {
	d.reqMu.Lock()
	defer d.reqMu.Unlock()
	return d.remove(ctx)
}

// remove is Remove with reqMu held.
func (d *Device) remove(ctx context.Context) error {
	d.mu.Lock()
	enr, client := d.enr, d.client
	d.mu.Unlock()
	if enr == nil {
		return ErrNotEnrolled
	}
	d.forget(ctx, enr)
	if !enr.CheckOutWhenRemoved {
		return nil
	}
	_, err := d.checkin(ctx, client, enr, channelDevice, "CheckOut", checkOutMessage{
		EnrollmentID: enr.EnrollmentID, MessageType: "CheckOut", Topic: enr.Topic,
	})
	return err
}

// forget drops enrollment enr, if it is still the current one, as a device
// does when its enrollment profile is gone: its push tokens are retired.
func (d *Device) forget(ctx context.Context, enr *Enrollment) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.enr != enr {
		return
	}
	d.enr, d.client, d.profiles, d.removeRequested = nil, nil, nil, false
	d.retired = append(d.retired, enr.Token)
	if enr.UserToken != nil {
		d.retired = append(d.retired, enr.UserToken)
	}
	d.log.InfoContext(ctx, "devicesim: unenrolled", "enrollment_id", enr.EnrollmentID)
}
