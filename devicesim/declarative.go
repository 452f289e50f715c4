package devicesim

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/profile"
)

// Declarative management as a user-enrolled iPhone does it: the
// DeclarativeManagement command asks the device to sync; after answering
// its commands the device fetches the tokens and the declaration items,
// downloads each declaration whose ServerToken changed, checks it against
// Apple's schema for its platform, OS release and enrollment type (User
// Enrollment), applies what it may, activates the configurations of its
// activations, and reports the state of every declaration, and the status
// items it is subscribed to, to the status endpoint.

// maxDeclarationBytes bounds one declaration-management response.
const maxDeclarationBytes = 1 << 20

// ddmState is the device's declarative management state.
type ddmState struct {
	asked  bool   // a DeclarativeManagement command asked for a sync
	token  string // DeclarationsToken of the items applied
	decls  map[string]*AppliedDeclaration
	syncs  int
	report []byte // the latest status report sent
}

// AppliedDeclaration is one declaration as the device holds it after a
// sync.
type AppliedDeclaration struct {
	// Class is activation, configuration, asset or management.
	Class string
	// Identifier, Type and ServerToken are the declaration's.
	Identifier  string
	Type        string
	ServerToken string
	// Payload is the declaration's payload.
	Payload json.RawMessage
	// Valid is "valid" or "invalid" (refused: see Reason).
	Valid string
	// Active reports whether the device applies it: an activation that is
	// valid, a configuration an active activation lists.
	Active bool
	// Reason says why a declaration is invalid.
	Reason string
	// Detail explains Reason.
	Detail string
	// Data is what an asset's Reference.DataURL served.
	Data []byte
	// Certificate and Key are the identity an ACME credential asset
	// (com.apple.asset.credential.acme) obtained once an active
	// configuration referenced it: the certificate the ACME server issued
	// for the simulated Secure Enclave key.
	Certificate *x509.Certificate
	Key         crypto.Signer
}

// Declarations returns the declarations the device holds, by identifier.
func (d *Device) Declarations() map[string]AppliedDeclaration {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]AppliedDeclaration{}
	for k, v := range d.ddm.decls {
		out[k] = *v
	}
	return out
}

// DeclarationsToken returns the DeclarationsToken of the items the device
// synced last, and how many syncs it made.
func (d *Device) DeclarationsToken() (string, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ddm.token, d.ddm.syncs
}

// declarativeManagementCommand accepts the command; the sync runs when
// the queue is empty, as the device's declarative engine runs beside MDM.
func (d *Device) declarativeManagementCommand(cmd map[string]any) (map[string]any, []ErrorChainItem) {
	if data, ok := cmd["Data"].([]byte); ok && len(data) > 0 {
		var tok struct {
			SyncTokens struct{ DeclarationsToken, Timestamp string }
		}
		if err := json.Unmarshal(data, &tok); err != nil || tok.SyncTokens.DeclarationsToken == "" {
			return nil, mdmError(12012, "The DeclarativeManagement command’s Data is not a tokens response.")
		}
	}
	d.mu.Lock()
	d.ddm.asked = true
	d.mu.Unlock()
	return map[string]any{}, nil
}

// SyncDeclarations runs a declarative management sync now, as after a
// DeclarativeManagement command.
func (d *Device) SyncDeclarations(ctx context.Context) error {
	d.reqMu.Lock()
	defer d.reqMu.Unlock()
	d.mu.Lock()
	enr, client := d.enr, d.client
	d.mu.Unlock()
	if enr == nil {
		return ErrNotEnrolled
	}
	return d.syncDeclarations(ctx, enr, client)
}

// syncIfAsked runs a sync if a command asked for one.
func (d *Device) syncIfAsked(ctx context.Context, enr *Enrollment, client *http.Client) error {
	d.mu.Lock()
	asked := d.ddm.asked
	d.ddm.asked = false
	d.mu.Unlock()
	if !asked {
		return nil
	}
	return d.syncDeclarations(ctx, enr, client)
}

type declarativeMessage struct {
	Data         []byte `plist:",omitempty"`
	Endpoint     string
	EnrollmentID string
	MessageType  string
}

// ddmRequest sends one DeclarativeManagement check-in and decodes its JSON
// answer into out (if not nil).
func (d *Device) ddmRequest(ctx context.Context, enr *Enrollment, client *http.Client, endpoint string, data []byte, out any) error {
	body, err := d.checkin(ctx, client, enr, channelDevice, "DeclarativeManagement "+endpoint, declarativeMessage{
		Data: data, Endpoint: endpoint, EnrollmentID: enr.EnrollmentID, MessageType: "DeclarativeManagement",
	})
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if len(body) > maxDeclarationBytes {
		return fmt.Errorf("devicesim: declarative management %s: answer of %d bytes", endpoint, len(body))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("devicesim: declarative management %s: %w", endpoint, err)
	}
	return nil
}

// syncDeclarations fetches, checks, applies and reports.
func (d *Device) syncDeclarations(ctx context.Context, enr *Enrollment, client *http.Client) error {
	var tokens struct {
		SyncTokens struct{ DeclarationsToken, Timestamp string }
	}
	if err := d.ddmRequest(ctx, enr, client, "tokens", nil, &tokens); err != nil {
		return err
	}
	d.mu.Lock()
	same := tokens.SyncTokens.DeclarationsToken != "" && tokens.SyncTokens.DeclarationsToken == d.ddm.token
	d.mu.Unlock()
	if same {
		return nil
	}
	var err error
	var items struct {
		Declarations      map[string][]struct{ Identifier, ServerToken string }
		DeclarationsToken string
	}
	if err = d.ddmRequest(ctx, enr, client, "declaration-items", nil, &items); err != nil {
		return err
	}
	if items.DeclarationsToken == "" {
		return fmt.Errorf("devicesim: declaration-items without a DeclarationsToken")
	}
	d.mu.Lock()
	held := map[string]*AppliedDeclaration{}
	for k, v := range d.ddm.decls {
		c := *v
		held[k] = &c
	}
	d.mu.Unlock()
	next := map[string]*AppliedDeclaration{}
	classOf := map[string]string{"Activations": "activation", "Configurations": "configuration", "Assets": "asset", "Management": "management"}
	for key, list := range items.Declarations {
		class, ok := classOf[key]
		if !ok {
			return fmt.Errorf("devicesim: declaration-items: unknown class %q", key)
		}
		for _, it := range list {
			if old, ok := held[it.Identifier]; ok && old.ServerToken == it.ServerToken && old.Class == class {
				next[it.Identifier] = old
				continue
			}
			var decl struct {
				Type, Identifier, ServerToken string
				Payload                       json.RawMessage
			}
			if err := d.ddmRequest(ctx, enr, client, "declaration/"+class+"/"+it.Identifier, nil, &decl); err != nil {
				return err
			}
			a := &AppliedDeclaration{Class: class, Identifier: decl.Identifier, Type: decl.Type, ServerToken: decl.ServerToken, Payload: decl.Payload, Valid: "valid"}
			if decl.Identifier != it.Identifier {
				a.Identifier, a.Valid, a.Reason = it.Identifier, "invalid", "Error.IdentifierMismatch"
			} else if reason := d.refuse(class, decl.Type, decl.Payload); reason != "" {
				a.Valid, a.Reason = "invalid", reason
			} else if class == "asset" && decl.Type != ddm.CredentialACMEType {
				if a.Data, err = d.fetchAsset(ctx, enr, client, decl.Payload); err != nil {
					d.log.InfoContext(ctx, "devicesim: asset download failed", "identifier", it.Identifier, "err", err)
					a.Valid, a.Reason = "invalid", "Error.AssetDownloadFailed"
				}
			}
			next[it.Identifier] = a
		}
	}
	// Activations switch on the configurations they list.
	for _, a := range next {
		a.Active = false
	}
	for _, a := range next {
		if a.Class != "activation" || a.Valid != "valid" {
			continue
		}
		a.Active = true
		var p struct{ StandardConfigurations []string }
		json.Unmarshal(a.Payload, &p)
		for _, id := range p.StandardConfigurations {
			if c, ok := next[id]; ok && c.Class == "configuration" && c.Valid == "valid" {
				c.Active = true
			}
		}
	}
	for _, a := range next {
		if (a.Class == "asset" || a.Class == "management") && a.Valid == "valid" {
			a.Active = true
		}
	}
	d.resolveACMECredentials(ctx, enr, client, next)
	report, err := d.statusReport(next)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.ddm.decls, d.ddm.token, d.ddm.report = next, items.DeclarationsToken, report
	d.ddm.syncs++
	d.mu.Unlock()
	d.log.InfoContext(ctx, "devicesim: declarations synced", "declarations", len(next), "declarations_token", items.DeclarationsToken)
	return d.ddmRequest(ctx, enr, client, "status", report, nil)
}

// refuse returns why the device refuses a declaration, or "": a type Apple's
// schema does not allow for a User Enrollment of this platform and OS
// release on the device channel, or one of another class.
func (d *Device) refuse(class, typ string, payload json.RawMessage) string {
	if ddm.ClassOf(typ) != ddm.Class(class) {
		return "Error.DeclarationClassMismatch"
	}
	if len(payload) == 0 || payload[0] != '{' {
		return "Error.PayloadInvalid"
	}
	decl := &ddm.Declaration{Type: typ, Payload: payload}
	platform := "iOS"
	if d.IsMac() {
		platform = "macOS"
	}
	if r, _ := ddm.WithholdReason(decl, ddm.Device{Platform: platform, OSVersion: d.opts.OSVersion, Enrollment: "user", Scope: "system"}); r != "" {
		return "Error.DeclarationNotAllowed"
	}
	return ""
}

// statusReport is the full status report after a sync: every declaration's
// state and the status items the active subscriptions ask for.
func (d *Device) statusReport(decls map[string]*AppliedDeclaration) ([]byte, error) {
	lists := map[string][]map[string]any{"activations": {}, "configurations": {}, "assets": {}, "management": {}}
	ids := make([]string, 0, len(decls))
	for id := range decls {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	subscribed := map[string]bool{}
	for _, id := range ids {
		a := decls[id]
		key := a.Class + "s"
		if a.Class == "management" {
			key = "management"
		}
		item := map[string]any{"identifier": a.Identifier, "server-token": a.ServerToken, "active": a.Active, "valid": a.Valid}
		if a.Reason != "" {
			desc := a.Detail
			if desc == "" {
				desc = "The declaration is not allowed for this enrollment."
			}
			item["reasons"] = []map[string]any{{"code": a.Reason, "description": desc}}
		}
		lists[key] = append(lists[key], item)
		if a.Active && a.Type == "com.apple.configuration.management.status-subscriptions" {
			var p struct{ StatusItems []struct{ Name string } }
			json.Unmarshal(a.Payload, &p)
			for _, s := range p.StatusItems {
				subscribed[s.Name] = true
			}
		}
	}
	values := map[string]any{
		"device.model.family":                   "iPhone",
		"device.operating-system.family":        "iOS",
		"device.operating-system.version":       d.opts.OSVersion,
		"device.operating-system.build-version": d.opts.BuildVersion,
		"passcode.is-compliant":                 true,
		"passcode.is-present":                   true,
	}
	items := map[string]any{"management": map[string]any{"declarations": lists}}
	var errs []map[string]any
	names := make([]string, 0, len(subscribed))
	for n := range subscribed {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		v, ok := values[name]
		if !ok {
			if name != "management.declarations" {
				errs = append(errs, map[string]any{"StatusItem": name, "Reasons": []map[string]any{{"code": "Error.NotSupported"}}})
			}
			continue
		}
		setPath(items, strings.Split(name, "."), v)
	}
	if errs == nil {
		errs = []map[string]any{}
	}
	return json.Marshal(map[string]any{"StatusItems": items, "Errors": errs, "FullReport": true})
}

// setPath sets a dotted status item in nested objects.
func setPath(m map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		child, ok := m[k].(map[string]any)
		if !ok {
			child = map[string]any{}
			m[k] = child
		}
		m = child
	}
	m[path[len(path)-1]] = v
}

// fetchAsset downloads an asset's Reference.DataURL, if it has one, as a
// device does: with its MDM identity (an Mdm-Signature over the empty body,
// or its TLS identity, and the bearer token of account-driven enrollment)
// unless Authentication.Type is "None", and checks ContentType, Size and
// Hash-SHA-256 when the asset states them.
func (d *Device) fetchAsset(ctx context.Context, enr *Enrollment, client *http.Client, payload json.RawMessage) ([]byte, error) {
	var p struct {
		Reference *struct {
			DataURL     string
			ContentType string
			Size        *int64
			Hash        string `json:"Hash-SHA-256"`
		}
		Authentication *struct{ Type string }
	}
	if err := json.Unmarshal(payload, &p); err != nil || p.Reference == nil || p.Reference.DataURL == "" {
		return nil, nil // an asset without external data (a user identity)
	}
	ref := p.Reference
	if !strings.HasPrefix(ref.DataURL, "https://") && !d.opts.AllowInsecureURLs {
		return nil, fmt.Errorf("DataURL %q is not https", ref.DataURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ref.DataURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", mdmUserAgent)
	if p.Authentication == nil || p.Authentication.Type != "None" {
		if err := d.authenticateMDM(req, enr, channelDevice, nil); err != nil {
			return nil, err
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, httpError("asset", resp)
	}
	data, err := readLimited(resp.Body, maxDeclarationBytes)
	if err != nil {
		return nil, err
	}
	if ref.ContentType != "" {
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != ref.ContentType {
			return nil, fmt.Errorf("content type %q, the asset says %q", mt, ref.ContentType)
		}
	}
	if ref.Size != nil && *ref.Size != int64(len(data)) {
		return nil, fmt.Errorf("%d bytes, the asset says %d", len(data), *ref.Size)
	}
	if ref.Hash != "" {
		sum := sha256.Sum256(data)
		if !strings.EqualFold(hex.EncodeToString(sum[:]), ref.Hash) {
			return nil, fmt.Errorf("SHA-256 differs from the asset's")
		}
	}
	return data, nil
}

// Reasons a simulated device gives for an ACME credential asset it could
// not resolve, and for the configurations referencing it.
const (
	// ReasonACMECredentialUnsupported: the document asks for what this
	// release cannot do (a hardware-bound or attested key on a Mac, a
	// key the Secure Enclave does not make) or lacks a required key.
	ReasonACMECredentialUnsupported = "Error.ACMECredentialUnsupported"
	// ReasonACMECredentialNoAttestation: the document asks for an
	// attestation and Options.AttestationRoot is nil.
	ReasonACMECredentialNoAttestation = "Error.ACMECredentialNoAttestation"
	// ReasonACMECredentialFailed: the download or the ACME exchange
	// failed (the server refused, see the Detail).
	ReasonACMECredentialFailed = "Error.ACMECredentialFailed"
	// ReasonAssetInvalid: a configuration references an asset the device
	// could not resolve.
	ReasonAssetInvalid = "Error.AssetInvalid"
)

// resolveACMECredentials resolves the ACME credential assets that active
// configurations reference and that hold no identity yet: the device
// downloads the asset data (the com.apple.credential.acme document, with
// its MDM identity), checks it against what its release can do, and runs
// its ACME client with a new account and an attested Secure Enclave key.
// An asset it cannot resolve, and each configuration referencing it,
// becomes invalid with a reason.
func (d *Device) resolveACMECredentials(ctx context.Context, enr *Enrollment, client *http.Client, decls map[string]*AppliedDeclaration) {
	ids := make([]string, 0, len(decls))
	for id := range decls {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := decls[id]
		if a.Class != "asset" || a.Type != ddm.CredentialACMEType || a.Valid != "valid" || a.Certificate != nil {
			continue
		}
		var users []*AppliedDeclaration
		for _, cid := range ids {
			c := decls[cid]
			if c.Class == "configuration" && c.Active && refersTo(c.Payload, id) {
				users = append(users, c)
			}
		}
		if len(users) == 0 {
			continue // resolved when a configuration needs it
		}
		reason, err := d.acmeCredential(ctx, enr, client, a)
		if err == nil {
			d.log.InfoContext(ctx, "devicesim: ACME credential issued", "asset", id, "subject", a.Certificate.Subject.String())
			continue
		}
		d.log.InfoContext(ctx, "devicesim: ACME credential refused", "asset", id, "err", err)
		a.Valid, a.Active, a.Reason, a.Detail = "invalid", false, reason, err.Error()
		for _, c := range users {
			c.Valid, c.Active, c.Reason, c.Detail = "invalid", false, ReasonAssetInvalid, "The asset "+id+" could not be resolved."
		}
	}
}

// acmeCredential downloads the ACME credential document of asset a and
// obtains its identity into a; on failure it returns the reason code.
func (d *Device) acmeCredential(ctx context.Context, enr *Enrollment, client *http.Client, a *AppliedDeclaration) (string, error) {
	data, err := d.fetchAsset(ctx, enr, client, a.Payload)
	if err != nil {
		return ReasonACMECredentialFailed, fmt.Errorf("asset download: %w", err)
	}
	var doc struct {
		DirectoryURL, ClientIdentifier, KeyType string
		KeySize                                 int
		HardwareBound, Attest                   bool
		Subject                                 [][][]string
		UsageFlags                              int
		ExtendedKeyUsage                        []string
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return ReasonACMECredentialUnsupported, fmt.Errorf("the document is not a %s: %w", "com.apple.credential.acme", err)
	}
	p := &profile.ACME{DirectoryURL: doc.DirectoryURL, ClientIdentifier: doc.ClientIdentifier, KeyType: doc.KeyType, KeySize: doc.KeySize,
		HardwareBound: doc.HardwareBound, Attest: doc.Attest, UsageFlags: doc.UsageFlags, ExtendedKeyUsage: doc.ExtendedKeyUsage}
	for _, rdn := range doc.Subject {
		var set []profile.Attribute
		for _, pair := range rdn {
			if len(pair) != 2 {
				return ReasonACMECredentialUnsupported, errors.New("a Subject pair is not [type, value]")
			}
			set = append(set, profile.Attribute{Type: pair[0], Value: pair[1]})
		}
		p.Subject = append(p.Subject, set)
	}
	switch {
	case p.DirectoryURL == "" || p.ClientIdentifier == "" || p.KeyType == "" || p.KeySize == 0 || len(p.Subject) == 0:
		return ReasonACMECredentialUnsupported, errors.New("the document lacks DirectoryURL, ClientIdentifier, KeyType, KeySize or Subject")
	case d.IsMac() && (p.HardwareBound || p.Attest):
		return ReasonACMECredentialUnsupported, errors.New("on macOS an ACME credential's HardwareBound and Attest must be false")
	}
	if err := d.checkACME(p); err != nil {
		return ReasonACMECredentialUnsupported, err
	}
	if d.opts.AttestationRoot == nil {
		return ReasonACMECredentialNoAttestation, ErrNoAttestationRoot
	}
	cert, key, err := d.orderACME(ctx, p, func() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) })
	if err != nil {
		return ReasonACMECredentialFailed, err
	}
	a.Data, a.Certificate, a.Key = data, cert, key
	return "", nil
}

// refersTo reports whether a configuration's payload names identifier as
// a string value anywhere (its asset references).
func refersTo(payload json.RawMessage, identifier string) bool {
	var v any
	if json.Unmarshal(payload, &v) != nil {
		return false
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case string:
			return x == identifier
		case map[string]any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}
