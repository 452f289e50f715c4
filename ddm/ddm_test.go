package ddm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/store/memory"
	"howett.net/plist"
)

// fakeMDM knows enrollments by their records and keeps what is queued.
type fakeMDM struct {
	mu      sync.Mutex
	records map[mdm.EnrollmentID]*mdm.EnrollmentRecord
	queued  []*mdm.Command
	// sent counts the commands queued for each enrollment.
	sent map[mdm.EnrollmentID]int
	// refuse makes Enqueue refuse a call that names the enrollment.
	refuse mdm.EnrollmentID
}

func (f *fakeMDM) Enrollment(_ context.Context, id mdm.EnrollmentID) (*mdm.EnrollmentRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.records[id]
	if !ok {
		return nil, mdm.ErrNotFound
	}
	return r.Clone(), nil
}

func (f *fakeMDM) Enrollments(ctx context.Context, ids []mdm.EnrollmentID) (map[mdm.EnrollmentID]*mdm.EnrollmentRecord, error) {
	out := map[mdm.EnrollmentID]*mdm.EnrollmentRecord{}
	for _, id := range ids {
		if r, err := f.Enrollment(ctx, id); err == nil {
			out[id] = r
		}
	}
	return out, nil
}

func (f *fakeMDM) Enqueue(_ context.Context, cmd *mdm.Command, ids ...mdm.EnrollmentID) ([]mdm.PushResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		if r, ok := f.records[id]; !ok || r.CheckedOut {
			return nil, fmt.Errorf("enqueue to %s: %w", id, mdm.ErrNotFound) // as mdm refuses the whole call
		}
		if id == f.refuse {
			return nil, fmt.Errorf("enqueue to %s: %w", id, errRefused)
		}
	}
	f.queued = append(f.queued, cmd)
	if f.sent == nil {
		f.sent = map[mdm.EnrollmentID]int{}
	}
	for _, id := range ids {
		f.sent[id]++
	}
	return nil, nil
}

func (f *fakeMDM) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queued)
}

var errRefused = errors.New("refused by policy")

const (
	ue    mdm.EnrollmentID = "ue-iphone"
	macUE mdm.EnrollmentID = "ue-mac:user"
	dev   mdm.EnrollmentID = "device-iphone"
)

func newService(t testing.TB, cfg ddm.Config) (*ddm.Service, *fakeMDM) {
	t.Helper()
	m := &fakeMDM{records: map[mdm.EnrollmentID]*mdm.EnrollmentRecord{
		ue:       {ID: ue, Type: mdm.UserEnrollmentDevice, ProductName: "iPhone16,2", OSVersion: "17.5", Enrolled: true},
		"ue-mac": {ID: "ue-mac", Type: mdm.UserEnrollmentDevice, ProductName: "Mac14,2", OSVersion: "15.1", Enrolled: true},
		macUE:    {ID: macUE, Type: mdm.UserEnrollmentUser, ParentID: "ue-mac", Enrolled: true},
		dev:      {ID: dev, Type: mdm.Device, ProductName: "iPhone16,2", OSVersion: "17.5", Enrolled: true},
	}}
	s, err := ddm.New(memory.NewDDMStore(), m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, m
}

var ctx = context.Background()

func decl(id, typ, payload string) *ddm.Declaration {
	return &ddm.Declaration{Identifier: id, Type: typ, Payload: json.RawMessage(payload)}
}

func put(t *testing.T, s *ddm.Service, ds ...*ddm.Declaration) {
	t.Helper()
	for _, d := range ds {
		if err := s.PutDeclaration(ctx, d); err != nil {
			t.Fatalf("PutDeclaration(%s): %v", d.Identifier, err)
		}
	}
}

func TestServerToken(t *testing.T) {
	a := decl("p", "com.apple.configuration.passcode.settings", `{"MinimumLength": 6, "RequirePasscode": true}`)
	tests := []struct {
		name string
		b    *ddm.Declaration
		same bool
	}{
		{"key order and spacing", decl("p", a.Type, `{"RequirePasscode":true,"MinimumLength":6}`), true},
		{"a value", decl("p", a.Type, `{"MinimumLength": 7, "RequirePasscode": true}`), false},
		{"a number's form", decl("p", a.Type, `{"MinimumLength": 6.0, "RequirePasscode": true}`), false},
		{"a key", decl("p", a.Type, `{"MinimumLength": 6}`), false},
		{"the identifier", decl("q", a.Type, `{"MinimumLength": 6, "RequirePasscode": true}`), false},
		{"the type", decl("p", "com.apple.configuration.management.test", `{"MinimumLength": 6, "RequirePasscode": true}`), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if same := a.ServerToken() == tc.b.ServerToken(); same != tc.same {
				t.Fatalf("same token = %v, want %v", same, tc.same)
			}
		})
	}
}

func TestWithholdReason(t *testing.T) {
	iosUE := ddm.Device{Platform: "iOS", OSVersion: "17.5", Enrollment: "user", Scope: "system"}
	tests := []struct {
		name    string
		typ     string
		dev     ddm.Device
		want    ddm.Reason
		payload string
	}{
		{"passcode under UE", "com.apple.configuration.passcode.settings", iosUE, "", ""},
		{"mail under UE", "com.apple.configuration.account.mail", iosUE, "", ""},
		{"software update under UE", "com.apple.configuration.softwareupdate.enforcement.specific", iosUE, ddm.ReasonEnrollmentType, ""},
		{"software update, device enrollment", "com.apple.configuration.softwareupdate.enforcement.specific", ddm.Device{Platform: "iOS", OSVersion: "17.5", Enrollment: "device"}, "", ""},
		{"passkey attestation under UE", "com.apple.configuration.security.passkey.attestation", iosUE, ddm.ReasonEnrollmentType, ""},
		{"VPN on 17.5", "com.apple.configuration.network.vpn.ikev2", ddm.Device{Platform: "iOS", OSVersion: "17.5", Enrollment: "device"}, ddm.ReasonOSVersion, ""},
		{"app.managed on 17.1", "com.apple.configuration.app.managed", ddm.Device{Platform: "iOS", OSVersion: "17.1", Enrollment: "user"}, ddm.ReasonOSVersion, ""},
		{"app.managed on 17.2", "com.apple.configuration.app.managed", ddm.Device{Platform: "iOS", OSVersion: "17.2", Enrollment: "user"}, "", ""},
		{"DNS proxy under UE on 27", "com.apple.configuration.network.dns-proxy", ddm.Device{Platform: "iOS", OSVersion: "27.0", Enrollment: "user"}, "", ""},
		{"DNS settings under UE on 27", "com.apple.configuration.network.dns-settings", ddm.Device{Platform: "iOS", OSVersion: "27.0", Enrollment: "user"}, ddm.ReasonEnrollmentType, ""},
		{"disk management on iOS", "com.apple.configuration.diskmanagement.settings", iosUE, ddm.ReasonPlatform, ""},
		{"mail, macOS user channel", "com.apple.configuration.account.mail", ddm.Device{Platform: "macOS", OSVersion: "15.1", Enrollment: "user", Scope: "user"}, "", ""},
		{"mail, macOS device channel", "com.apple.configuration.account.mail", ddm.Device{Platform: "macOS", OSVersion: "15.1", Enrollment: "user", Scope: "system"}, ddm.ReasonScope, ""},
		{"passcode, macOS UE", "com.apple.configuration.passcode.settings", ddm.Device{Platform: "macOS", OSVersion: "15.1", Enrollment: "user"}, ddm.ReasonEnrollmentType, ""},
		{"unknown OS: iOS 17 type withheld", "com.apple.configuration.security.certificate", ddm.Device{Platform: "iOS", Enrollment: "user"}, ddm.ReasonOSVersion, ""},
		{"unknown OS: iOS 15 type sent", "com.apple.configuration.passcode.settings", ddm.Device{Platform: "iOS", Enrollment: "user"}, "", ""},
		{"unknown platform: passcode (not for macOS UE)", "com.apple.configuration.passcode.settings", ddm.Device{OSVersion: "17.5"}, ddm.ReasonEnrollmentType, ""},
		{"unknown enrollment is user", "com.apple.configuration.softwareupdate.settings", ddm.Device{Platform: "iOS", OSVersion: "18.0"}, ddm.ReasonEnrollmentType, ""},
		{"unknown type", "com.apple.configuration.nothing", iosUE, ddm.ReasonPlatform, ""},
		{"activation", "com.apple.activation.simple", iosUE, "", ""},
		{"data asset on 16", "com.apple.asset.data", ddm.Device{Platform: "iOS", OSVersion: "16.4", Enrollment: "user"}, ddm.ReasonOSVersion, ""},
		{"content filter under UE on 27", "com.apple.configuration.webcontent-filter.plugin", ddm.Device{Platform: "iOS", OSVersion: "27.0", Enrollment: "user"}, "", `{"FilterType":"Plugin"}`},
		{"DNS settings, supervised-only key, device enrollment", "com.apple.configuration.network.dns-settings", ddm.Device{Platform: "iOS", OSVersion: "27.0", Enrollment: "device"}, ddm.ReasonPayloadKey, `{"ProhibitDisablement":true}`},
		{"DNS settings, the key when supervised", "com.apple.configuration.network.dns-settings", ddm.Device{Platform: "iOS", OSVersion: "27.0", Enrollment: "supervised"}, "", `{"ProhibitDisablement":true}`},
		{"managed app, supervised-only key in a nested dictionary", "com.apple.configuration.app.managed", ddm.Device{Platform: "iOS", OSVersion: "26.0", Enrollment: "user"}, ddm.ReasonPayloadKey, `{"InstallBehavior":{"AllowDownloadsOverCellular":true}}`},
		{"managed app without it", "com.apple.configuration.app.managed", ddm.Device{Platform: "iOS", OSVersion: "26.0", Enrollment: "user"}, "", `{"InstallBehavior":{"Install":"Required"}}`},
		{"macOS key of the system scope on a user channel", "com.apple.configuration.extensible-sso", ddm.Device{Platform: "macOS", OSVersion: "27.0", Enrollment: "user", Scope: "user"}, ddm.ReasonPayloadKey, `{"PlatformSSO":{"UseSharedDeviceKeys":true}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			payload := tc.payload
			if payload == "" {
				payload = "{}"
			}
			got, detail := ddm.WithholdReason(decl("x", tc.typ, payload), tc.dev)
			if got != tc.want || (got != "") != (detail != "") {
				t.Fatalf("WithholdReason = %q (%s), want %q", got, detail, tc.want)
			}
		})
	}
}

func TestReferences(t *testing.T) {
	s, _ := newService(t, ddm.Config{})
	put(t, s, decl("id", "com.apple.asset.useridentity", `{"FullName":"A"}`),
		decl("cred", "com.apple.asset.credential.userpassword", `{"Reference":{"DataURL":"https://example.com/c","ContentType":"application/json"}}`))
	mail := func(ref string) *ddm.Declaration {
		return decl("mail", "com.apple.configuration.account.mail",
			`{"UserIdentityAssetReference":"id","IncomingServer":{"ServerType":"IMAP","HostName":"h","AuthenticationMethod":"Password","AuthenticationCredentialsAssetReference":"`+ref+`"},"OutgoingServer":{"HostName":"h","AuthenticationMethod":"None"}}`)
	}
	tests := []struct {
		name string
		d    *ddm.Declaration
		want error
	}{
		{"assets resolve", mail("cred"), nil},
		{"missing asset", mail("nothing"), ddm.ErrDanglingReference},
		{"asset of the wrong type", mail("id"), ddm.ErrDanglingReference},
		{"activation of a missing configuration", decl("a1", "com.apple.activation.simple", `{"StandardConfigurations":["nope"]}`), ddm.ErrDanglingReference},
		{"activation of an asset", decl("a2", "com.apple.activation.simple", `{"StandardConfigurations":["id"]}`), ddm.ErrDanglingReference},
		{"activation without configurations", decl("a3", "com.apple.activation.simple", `{}`), ddm.ErrInvalid},
		{"unknown type", decl("x", "com.apple.configuration.nothing", `{}`), ddm.ErrInvalid},
		{"not a class", decl("x", "com.example.thing", `{}`), ddm.ErrInvalid},
		{"payload not an object", decl("x", "com.apple.configuration.passcode.settings", `[1]`), ddm.ErrInvalid},
		{"payload not JSON", decl("x", "com.apple.configuration.passcode.settings", `{"a":`), ddm.ErrInvalid},
		{"identifier with a slash", decl("a/b", "com.apple.configuration.passcode.settings", `{}`), ddm.ErrInvalid},
		{"reserved identifier", decl(ddm.DefaultActivationIdentifier, "com.apple.activation.simple", `{"StandardConfigurations":["mail"]}`), ddm.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.PutDeclaration(ctx, tc.d)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("PutDeclaration = %v, want %v", err, tc.want)
			}
		})
	}
	put(t, s, decl("act", "com.apple.activation.simple", `{"StandardConfigurations":["mail"]}`))
	// What others refer to stays: deleting it, or changing its type, is
	// refused.
	if err := s.DeleteDeclaration(ctx, "cred"); !errors.Is(err, ddm.ErrInUse) {
		t.Fatalf("delete a referenced asset: %v", err)
	}
	if err := s.PutDeclaration(ctx, decl("mail", "com.apple.configuration.passcode.settings", `{}`)); err != nil {
		t.Fatalf("a configuration stays a configuration: %v", err)
	}
	if err := s.PutDeclaration(ctx, decl("mail", "com.apple.asset.data", `{"Reference":{"DataURL":"https://x"}}`)); !errors.Is(err, ddm.ErrDanglingReference) {
		t.Fatalf("turning an activated configuration into an asset: %v", err)
	}
	if err := s.PutSet(ctx, "s", []string{"act", "ghost"}); !errors.Is(err, ddm.ErrDanglingReference) {
		t.Fatalf("set with a missing member: %v", err)
	}
	if err := s.PutSet(ctx, "s", []string{"act"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Assign(ctx, ddm.Assignment{Enrollment: "stranger", Sets: []string{"s"}}); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("assign to an enrollment mdm does not know: %v", err)
	}
	if err := s.Assign(ctx, ddm.Assignment{Enrollment: ue, Sets: []string{"nope"}}); !errors.Is(err, ddm.ErrDanglingReference) {
		t.Fatalf("assign a missing set: %v", err)
	}
	if err := s.Assign(ctx, ddm.Assignment{Enrollment: ue, Sets: []string{"s"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSet(ctx, "s"); !errors.Is(err, ddm.ErrInUse) {
		t.Fatalf("delete an assigned set: %v", err)
	}
	if err := s.DeleteDeclaration(ctx, "act"); !errors.Is(err, ddm.ErrInUse) {
		t.Fatalf("delete a set member: %v", err)
	}
	if err := s.DeleteDeclaration(ctx, "nothing"); !errors.Is(err, ddm.ErrNotFound) {
		t.Fatalf("delete nothing: %v", err)
	}
}

// checkin calls Respond as mdm does after verifying the device.
func checkin(s *ddm.Service, id mdm.EnrollmentID, endpoint string, data []byte) ([]byte, error) {
	ch := mdm.Channel{ID: id, Type: mdm.UserEnrollmentDevice}
	return s.Respond(ctx, &mdm.Request{Enrollment: ch, Message: &mdm.DeclarativeManagement{
		Header: mdm.Header{MessageType: mdm.MessageDeclarativeManagement}, Endpoint: endpoint, Data: data}})
}

func TestProtocol(t *testing.T) {
	s, m := newService(t, ddm.Config{})
	put(t, s,
		decl("pass", "com.apple.configuration.passcode.settings", `{"MinimumLength":6}`),
		decl("upd", "com.apple.configuration.softwareupdate.enforcement.specific", `{"TargetOSVersion":"17.6"}`),
		decl("act", "com.apple.activation.simple", `{"StandardConfigurations":["pass"]}`),
		decl("org", "com.apple.management.organization-info", `{"OrganizationName":"Example"}`))
	if err := s.Assign(ctx, ddm.Assignment{Enrollment: ue, Declarations: []string{"act", "upd", "org"}}); err != nil {
		t.Fatal(err)
	}
	if m.count() != 1 {
		t.Fatalf("%d commands queued by an assignment, want 1", m.count())
	}
	var tokens struct {
		SyncTokens struct{ DeclarationsToken, Timestamp string }
	}
	body, err := checkin(s, ue, "tokens", nil)
	if err != nil || json.Unmarshal(body, &tokens) != nil || tokens.SyncTokens.DeclarationsToken == "" || tokens.SyncTokens.Timestamp == "" {
		t.Fatalf("tokens = %s, %v", body, err)
	}
	var items struct {
		Declarations      map[string][]struct{ Identifier, ServerToken string }
		DeclarationsToken string
	}
	body, err = checkin(s, ue, "declaration-items", nil)
	if err != nil || json.Unmarshal(body, &items) != nil {
		t.Fatalf("declaration-items = %s, %v", body, err)
	}
	if items.DeclarationsToken != tokens.SyncTokens.DeclarationsToken {
		t.Fatalf("items token %q, tokens %q", items.DeclarationsToken, tokens.SyncTokens.DeclarationsToken)
	}
	ids := func(class string) string {
		var out []string
		for _, it := range items.Declarations[class] {
			out = append(out, it.Identifier)
		}
		return strings.Join(out, ",")
	}
	if ids("Activations") != "act,"+ddm.DefaultActivationIdentifier || ids("Configurations") != ddm.DefaultSubscriptionsIdentifier+",pass" ||
		ids("Management") != "org" || ids("Assets") != "" {
		t.Fatalf("items = %+v", items.Declarations)
	}
	body, err = checkin(s, ue, "declaration/configuration/pass", nil)
	var d struct {
		Type, Identifier, ServerToken string
		Payload                       map[string]any
	}
	if err != nil || json.Unmarshal(body, &d) != nil || d.Identifier != "pass" || d.Payload["MinimumLength"] != float64(6) || d.ServerToken == "" {
		t.Fatalf("declaration = %s, %v", body, err)
	}
	// Withheld, of another class, of another enrollment, unknown: 404.
	for _, tc := range []struct {
		id       mdm.EnrollmentID
		endpoint string
	}{{ue, "declaration/configuration/upd"}, {ue, "declaration/activation/pass"}, {dev, "declaration/configuration/pass"},
		{ue, "declaration/configuration/nope"}, {ue, "declaration/configuration"}, {ue, "declaration/"}} {
		_, err := checkin(s, tc.id, tc.endpoint, nil)
		if !errors.Is(err, mdm.ErrUnsupported) || mdm.StatusCode(err) != http.StatusNotFound {
			t.Fatalf("%s %s: %v, want 404", tc.id, tc.endpoint, err)
		}
	}
	if _, err := checkin(s, ue, "nothing", nil); !errors.Is(err, ddm.ErrUnknownEndpoint) || mdm.StatusCode(err) != http.StatusBadRequest {
		t.Fatalf("unknown endpoint: %v", err)
	}
	sync, err := s.Sync(ctx, ue)
	if err != nil || len(sync.Withheld) != 1 || sync.Withheld[0].Identifier != "upd" || sync.Withheld[0].Reason != ddm.ReasonEnrollmentType {
		t.Fatalf("Sync = %+v, %v", sync, err)
	}
	if err := sync.Check(); err != nil {
		t.Fatal(err)
	}
	// A device enrollment is served the software update settings.
	if err := s.Assign(ctx, ddm.Assignment{Enrollment: dev, Declarations: []string{"upd"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := checkin(s, dev, "declaration/configuration/upd", nil); err != nil {
		t.Fatalf("device enrollment: %v", err)
	}
	// Other messages go to Next, or get 404 without one.
	gt := &mdm.Request{Enrollment: mdm.Channel{ID: ue}, Message: &mdm.GetToken{Header: mdm.Header{MessageType: mdm.MessageGetToken}}}
	if _, err := s.Respond(ctx, gt); !errors.Is(err, mdm.ErrUnsupported) {
		t.Fatalf("GetToken without Next: %v", err)
	}
	s2, _ := newService(t, ddm.Config{Next: mdm.ResponderFunc(func(context.Context, *mdm.Request) ([]byte, error) { return []byte("next"), nil })})
	if out, err := s2.Respond(ctx, gt); err != nil || string(out) != "next" {
		t.Fatalf("GetToken with Next: %q, %v", out, err)
	}
}

func TestStatusReports(t *testing.T) {
	s, m := newService(t, ddm.Config{})
	put(t, s, decl("pass", "com.apple.configuration.passcode.settings", `{"MinimumLength":6}`))
	if err := s.Assign(ctx, ddm.Assignment{Enrollment: macUE, Declarations: []string{"pass"}}); err != nil {
		t.Fatal(err)
	}
	// A Mac user channel: passcode settings are not for User Enrollment on
	// macOS.
	if sync, _ := s.Sync(ctx, macUE); len(sync.Withheld) != 1 || sync.Device.Platform != "macOS" || sync.Device.Scope != "user" {
		t.Fatalf("mac user channel = %+v", sync)
	}
	bad := []string{``, `[]`, `{}`, `{"StatusItems":[]}`, `{"StatusItems":{},"Errors":[{"Reasons":[]}]}`,
		`{"StatusItems":{"management":{"declarations":{"configurations":[{"active":true}]}}}}`,
		`{"StatusItems":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 41)}
	for _, b := range bad {
		if _, err := checkin(s, ue, "status", []byte(b)); !errors.Is(err, ddm.ErrBadStatusReport) || mdm.StatusCode(err) != http.StatusBadRequest {
			t.Fatalf("status %.40q: %v, want 400", b, err)
		}
	}
	if _, err := s.Status(ctx, ue); !errors.Is(err, ddm.ErrNotFound) {
		t.Fatalf("a refused report was stored: %v", err)
	}
	if err := s.Assign(ctx, ddm.Assignment{Enrollment: ue, Declarations: []string{"pass"}}); err != nil {
		t.Fatal(err)
	}
	before := m.count()
	report := `{"StatusItems":{"device":{"operating-system":{"family":"iOS","version":"18.1"},"model":{"family":"iPhone"}},
		"management":{"declarations":{"configurations":[{"identifier":"pass","server-token":"t1","active":true,"valid":"valid"}],
		"activations":[{"identifier":"a","active":false,"valid":"invalid","reasons":[{"code":"Error.Missing","description":"d","details":{"x":1}}]}]}}},
		"Errors":[{"StatusItem":"passcode.is-compliant","Reasons":[{"code":"Error.Unavailable"}]}]}`
	if _, err := checkin(s, ue, "status", []byte(report)); err != nil {
		t.Fatal(err)
	}
	st, err := s.Status(ctx, ue)
	if err != nil || string(st.Items["device.operating-system.version"]) != `"18.1"` || string(st.Items["device.model.family"]) != `"iPhone"` ||
		!st.Declarations["pass"].Active || st.Declarations["a"].Valid != "invalid" || st.Declarations["a"].Reasons[0].Code != "Error.Missing" ||
		len(st.Errors) != 1 {
		t.Fatalf("status = %+v, %v", st, err)
	}
	sync, _ := s.Sync(ctx, ue)
	if sync.Device.OSVersion != "18.1" {
		t.Fatalf("facts not taken from the status report: %+v", sync.Device)
	}
	if m.count() != before {
		t.Fatalf("new facts that change nothing served queued a command")
	}
	// An incremental report keeps what it does not mention.
	if _, err := checkin(s, ue, "status", []byte(`{"StatusItems":{"passcode":{"is-compliant":true}},"Errors":[]}`)); err != nil {
		t.Fatal(err)
	}
	st, _ = s.Status(ctx, ue)
	if string(st.Items["passcode.is-compliant"]) != "true" || string(st.Items["device.operating-system.version"]) != `"18.1"` || len(st.Declarations) != 2 {
		t.Fatalf("incremental report: %+v", st)
	}
}

func TestFactsChangeResyncs(t *testing.T) {
	s, m := newService(t, ddm.Config{})
	put(t, s, decl("filter", "com.apple.configuration.webcontent-filter.plugin", `{}`))
	if err := s.Assign(ctx, ddm.Assignment{Enrollment: ue, Declarations: []string{"filter"}}); err != nil {
		t.Fatal(err)
	}
	sync, _ := s.Sync(ctx, ue)
	if len(sync.Withheld) != 1 || sync.Withheld[0].Reason != ddm.ReasonOSVersion {
		t.Fatalf("on 17.5: %+v", sync.Withheld)
	}
	before := m.count()
	if _, err := checkin(s, ue, "status", []byte(`{"StatusItems":{"device":{"operating-system":{"family":"iOS","version":"27.0"}}},"Errors":[]}`)); err != nil {
		t.Fatal(err)
	}
	sync, _ = s.Sync(ctx, ue)
	if len(sync.Withheld) != 0 || m.count() != before+1 {
		t.Fatalf("after the upgrade: withheld %+v, %d commands queued", sync.Withheld, m.count()-before)
	}
}

func TestPreviewWritesNothing(t *testing.T) {
	s, m := newService(t, ddm.Config{NoDefaultSubscriptions: true})
	put(t, s, decl("upd", "com.apple.configuration.softwareupdate.settings", `{}`))
	p, err := s.Preview(ctx, ddm.Assignment{Enrollment: ue, Declarations: []string{"upd"}})
	if err != nil || len(p.Items) != 0 || len(p.Withheld) != 1 {
		t.Fatalf("Preview = %+v, %v", p, err)
	}
	if sync, _ := s.Sync(ctx, ue); len(sync.Withheld) != 0 || m.count() != 0 {
		t.Fatalf("Preview changed the enrollment: %+v, %d commands", sync, m.count())
	}
	if _, err := s.Preview(ctx, ddm.Assignment{Enrollment: ue, Declarations: []string{"nope"}}); !errors.Is(err, ddm.ErrDanglingReference) {
		t.Fatalf("Preview of a missing declaration: %v", err)
	}
}

func FuzzParseStatusReport(f *testing.F) {
	f.Add([]byte(`{"StatusItems":{"device":{"operating-system":{"family":"iOS","version":"18.1"}},"management":{"declarations":{"configurations":[{"identifier":"p","server-token":"t","active":true,"valid":"valid"}]}}},"Errors":[]}`))
	f.Add([]byte(`{"StatusItems":{},"Errors":[{"StatusItem":"x","Reasons":[{"code":"c","details":{"a":[1,2]}}]}],"FullReport":true}`))
	f.Add([]byte(`{"StatusItems":{"a":{"b":{}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := ddm.ParseStatusReport(data)
		if err != nil {
			if !errors.Is(err, ddm.ErrBadStatusReport) || !errors.Is(err, mdm.ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		for name, v := range rep.Items {
			if name == "" || !json.Valid(v) {
				t.Fatalf("item %q = %q", name, v)
			}
		}
		for _, d := range rep.Declarations {
			if d.Identifier == "" {
				t.Fatal("declaration state without identifier")
			}
		}
	})
}

// FuzzRespond sends arbitrary DeclarativeManagement check-ins: every
// answer is a declaration the enrollment is served, a typed error, or the
// stored report.
func FuzzRespond(f *testing.F) {
	s, _ := newService(f, ddm.Config{})
	if err := s.PutDeclaration(ctx, decl("upd", "com.apple.configuration.softwareupdate.settings", `{}`)); err != nil {
		f.Fatal(err)
	}
	if err := s.Assign(ctx, ddm.Assignment{Enrollment: ue, Declarations: []string{"upd"}}); err != nil {
		f.Fatal(err)
	}
	f.Add("tokens", []byte(nil))
	f.Add("declaration/configuration/upd", []byte(nil))
	f.Add("declaration/configuration/"+ddm.DefaultSubscriptionsIdentifier, []byte(nil))
	f.Add("status", []byte(`{"StatusItems":{"device":{"operating-system":{"version":"17.5"}}},"Errors":[]}`))
	f.Fuzz(func(t *testing.T, endpoint string, data []byte) {
		out, err := checkin(s, ue, endpoint, data)
		if err != nil {
			if code := mdm.StatusCode(err); code != http.StatusNotFound && code != http.StatusBadRequest {
				t.Fatalf("%q: status %d for %v", endpoint, code, err)
			}
			return
		}
		if strings.Contains(string(out), `"upd"`) {
			t.Fatalf("%q served a withheld declaration: %s", endpoint, out)
		}
	})
}

// FuzzPutDeclaration writes arbitrary host input: it is refused with a
// typed error or stored with a token that normalising it again keeps.
func FuzzPutDeclaration(f *testing.F) {
	f.Add("com.apple.configuration.passcode.settings", `{"MinimumLength": 6}`)
	f.Add("com.apple.activation.simple", `{"StandardConfigurations": ["p"]}`)
	f.Add("com.apple.configuration.account.mail", `{"IncomingServer": {"AuthenticationCredentialsAssetReference": ["a", 1, {}]}}`)
	f.Add("com.apple.configuration.app.managed", `{"AppConfig": {"Passwords": [{"AssetReference": "x"}]}}`)
	s, _ := newService(f, ddm.Config{})
	put(&testing.T{}, s, decl("p", "com.apple.configuration.passcode.settings", `{}`))
	f.Fuzz(func(t *testing.T, typ, payload string) {
		d := decl("fuzz", typ, payload)
		err := s.PutDeclaration(ctx, d)
		if err != nil {
			if !errors.Is(err, ddm.ErrInvalid) && !errors.Is(err, ddm.ErrDanglingReference) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		got, err := s.Declarations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range got {
			if g.Identifier == "fuzz" && g.ServerToken() != d.ServerToken() {
				t.Fatalf("stored token %s, written %s", g.ServerToken(), d.ServerToken())
			}
		}
		if err := s.DeleteDeclaration(ctx, "fuzz"); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkTokens(b *testing.B) {
	s, _ := newService(b, ddm.Config{})
	for i := range 20 {
		if err := s.PutDeclaration(ctx, decl(fmt.Sprintf("p%d", i), "com.apple.configuration.passcode.settings", fmt.Sprintf(`{"MinimumLength":%d}`, i))); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Assign(ctx, ddm.Assignment{Enrollment: ue, Declarations: []string{"p1", "p2", "p3"}}); err != nil {
		b.Fatal(err)
	}
	for _, ep := range []string{"tokens", "declaration-items", "declaration/configuration/p1"} {
		b.Run(ep, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := checkin(s, ue, ep, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFanout changes what sets and declarations serve and checks that
// exactly the enrollments whose effective set changed are told, each once,
// with its new tokens, however the change reaches them.
func TestFanout(t *testing.T) {
	s, m := newService(t, ddm.Config{})
	put(t, s,
		decl("cred", "com.apple.asset.credential.userpassword", `{"Reference":{"DataURL":"https://example.com/c","ContentType":"application/json"}}`),
		decl("cal", "com.apple.configuration.account.subscribed-calendar", `{"CalendarURL":"https://example.com/a.ics","AuthenticationCredentialsAssetReference":"cred"}`),
		decl("pass", "com.apple.configuration.passcode.settings", `{"MinimumLength":6}`),
		decl("act", "com.apple.activation.simple", `{"StandardConfigurations":["cal"]}`),
		decl("org", "com.apple.management.organization-info", `{"OrganizationName":"Example"}`),
		decl("unused", "com.apple.configuration.passcode.settings", `{"MinimumLength":4}`))
	for _, set := range []struct {
		name    string
		members []string
	}{{"byod", []string{"pass", "org"}}, {"sales", []string{"act"}}} {
		if err := s.PutSet(ctx, set.name, set.members); err != nil {
			t.Fatal(err)
		}
	}
	// 2,500 enrollments (more than one batch): every fifth in sales, one
	// checked out, one mdm does not know.
	const n = 2500
	sales := map[mdm.EnrollmentID]bool{}
	var ids []mdm.EnrollmentID
	for i := range n {
		id := mdm.EnrollmentID(fmt.Sprintf("e%04d", i))
		ids = append(ids, id)
		m.records[id] = &mdm.EnrollmentRecord{ID: id, Type: mdm.UserEnrollmentDevice, ProductName: "iPhone16,2", OSVersion: "17.5", Enrolled: true, CheckedOut: i == 5}
		sets := []string{"byod"}
		if i%5 == 0 {
			sets = append(sets, "sales")
			if i != 5 {
				sales[id] = true
			}
		}
		if err := s.Assign(ctx, ddm.Assignment{Enrollment: id, Sets: sets}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Assign(ctx, ddm.Assignment{Enrollment: ue, Sets: []string{"sales"}}); err != nil {
		t.Fatal(err)
	}
	delete(m.records, ue) // mdm forgot it: skipped, not an error
	everyone := map[mdm.EnrollmentID]bool{}
	for _, id := range ids {
		if id != "e0005" {
			everyone[id] = true
		}
	}
	salesBut10 := maps.Clone(sales)
	delete(salesBut10, "e0010")
	tests := []struct {
		name    string
		change  func() error
		told    map[mdm.EnrollmentID]bool
		refuse  mdm.EnrollmentID
		wantErr error
	}{
		{"a configuration of a set", func() error {
			return s.PutDeclaration(ctx, decl("cal", "com.apple.configuration.account.subscribed-calendar", `{"CalendarURL":"https://example.com/b.ics","AuthenticationCredentialsAssetReference":"cred"}`))
		}, sales, "", nil},
		{"an asset a configuration refers to", func() error {
			return s.PutDeclaration(ctx, decl("cred", "com.apple.asset.credential.userpassword", `{"Reference":{"DataURL":"https://example.com/d","ContentType":"application/json"}}`))
		}, sales, "", nil},
		{"a declaration added to a set", func() error { return s.PutSet(ctx, "sales", []string{"act", "unused"}) }, sales, "", nil},
		{"a declaration nothing is assigned", func() error {
			return s.PutDeclaration(ctx, decl("other", "com.apple.configuration.passcode.settings", `{"MinimumLength":8}`))
		}, nil, "", nil},
		{"the same declaration again", func() error {
			return s.PutDeclaration(ctx, decl("pass", "com.apple.configuration.passcode.settings", `{"MinimumLength": 6}`))
		}, nil, "", nil},
		{"one enrollment refused", func() error {
			return s.PutDeclaration(ctx, decl("cal", "com.apple.configuration.account.subscribed-calendar", `{"CalendarURL":"https://example.com/c.ics","AuthenticationCredentialsAssetReference":"cred"}`))
		}, salesBut10, "e0010", errRefused},
		{"a set everyone has", func() error {
			return s.PutDeclaration(ctx, decl("org", "com.apple.management.organization-info", `{"OrganizationName":"Example Corp"}`))
		}, everyone, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := map[mdm.EnrollmentID]*ddm.SyncState{}
			for _, id := range ids {
				before[id], _ = s.Sync(ctx, id)
			}
			m.sent, m.refuse = nil, tc.refuse
			defer func() { m.refuse = "" }()
			if err := tc.change(); !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("change: %v, want %v", err, tc.wantErr)
			}
			if len(m.sent) != len(tc.told) {
				t.Fatalf("%d enrollments told, want %d", len(m.sent), len(tc.told))
			}
			for _, id := range ids {
				st, err := s.Sync(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				changed := st.DeclarationsToken != before[id].DeclarationsToken
				// The checked-out sales enrollment's state changes with
				// the others' but it is not told, nor the refused one.
				if m.sent[id] != map[bool]int{true: 1}[tc.told[id]] || changed != (tc.told[id] || (id == "e0005" || id == tc.refuse) && tc.told != nil && tc.told["e0000"]) {
					t.Fatalf("%s: told %d times, token changed %v", id, m.sent[id], changed)
				}
				if err := st.Check(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestObserveTokenUpdate(t *testing.T) {
	s, m := newService(t, ddm.Config{})
	for _, kind := range []mdm.EventKind{mdm.EventAuthenticate, mdm.EventCheckOut, mdm.EventCommandResult} {
		if err := s.Observe(ctx, &mdm.Event{Kind: kind, Enrollment: mdm.Channel{ID: ue}}); err != nil || m.count() != 0 {
			t.Fatalf("%s: %v, %d commands", kind, err, m.count())
		}
	}
	// Each TokenUpdate (enrolling, enrolling again with the same id, a new
	// push token) queues DeclarativeManagement with the current tokens.
	for i := 1; i <= 2; i++ {
		if err := s.Observe(ctx, &mdm.Event{Kind: mdm.EventTokenUpdate, Enrollment: mdm.Channel{ID: ue}}); err != nil {
			t.Fatal(err)
		}
		if m.count() != i {
			t.Fatalf("after %d TokenUpdates: %d commands", i, m.count())
		}
	}
	var cmd struct {
		Command struct {
			RequestType string
			Data        []byte
		}
	}
	if _, err := plist.Unmarshal(m.queued[0].Raw, &cmd); err != nil {
		t.Fatal(err)
	}
	var tokens struct {
		SyncTokens struct{ DeclarationsToken string }
	}
	sync, _ := s.Sync(ctx, ue)
	if cmd.Command.RequestType != "DeclarativeManagement" || json.Unmarshal(cmd.Command.Data, &tokens) != nil ||
		tokens.SyncTokens.DeclarationsToken != sync.DeclarationsToken {
		t.Fatalf("command %+v, data %s; state token %s", cmd, cmd.Command.Data, sync.DeclarationsToken)
	}
	// A TokenUpdate that repeats the stored token of an enrolled channel
	// queues nothing; a renewed token, a channel that was not enrolled or
	// checked out, and a user channel are told apart.
	before := m.count()
	tu := &mdm.TokenUpdate{Token: []byte{1, 2, 3}}
	for _, tt := range []struct {
		name     string
		ev       *mdm.Event
		announce bool
	}{
		{"repeated token", &mdm.Event{Kind: mdm.EventTokenUpdate, Enrollment: mdm.Channel{ID: ue}, Message: tu,
			Previous: &mdm.EnrollmentRecord{Enrolled: true, Token: []byte{1, 2, 3}}}, false},
		{"renewed token", &mdm.Event{Kind: mdm.EventTokenUpdate, Enrollment: mdm.Channel{ID: ue}, Message: tu,
			Previous: &mdm.EnrollmentRecord{Enrolled: true, Token: []byte{9}}}, true},
		{"authenticated again", &mdm.Event{Kind: mdm.EventTokenUpdate, Enrollment: mdm.Channel{ID: ue}, Message: tu,
			Previous: &mdm.EnrollmentRecord{Token: []byte{1, 2, 3}}}, true},
		{"enrolling after a check-out", &mdm.Event{Kind: mdm.EventTokenUpdate, Enrollment: mdm.Channel{ID: ue}, Message: tu,
			Previous: &mdm.EnrollmentRecord{Enrolled: true, CheckedOut: true, Token: []byte{1, 2, 3}}}, true},
		{"user channel", &mdm.Event{Kind: mdm.EventTokenUpdate, Enrollment: mdm.Channel{ID: ue + ":user", Type: mdm.UserEnrollmentUser, ParentID: ue}, Message: tu}, false},
	} {
		if err := s.Observe(ctx, tt.ev); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := m.count() > before; got != tt.announce {
			t.Fatalf("%s: queued %v, want %v", tt.name, got, tt.announce)
		}
		before = m.count()
	}
	// An enrollment mdm does not know is left alone.
	if err := s.Observe(ctx, &mdm.Event{Kind: mdm.EventTokenUpdate, Enrollment: mdm.Channel{ID: "stranger"}}); err == nil {
		t.Fatal("TokenUpdate of an unknown enrollment accepted")
	}
}
