package benchdata

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/mdm"
)

// The declarative management population: every enrollment is assigned
// the set "all-byod"; every tenth is also in "sales" (10,000 of 100,000),
// every fifth of the rest in "engineering" and every twentieth of those
// left in "support". The catalog holds 50 declarations of the four
// classes.
const (
	// SetAll is every enrollment's set.
	SetAll = "all-byod"
	// SetSales holds every tenth enrollment.
	SetSales = "sales"
	// SalesApp is a configuration of the sales set that the fan-out
	// benchmarks change.
	SalesApp = "com.example.sales.app.crm"
	// SalesExtra is the declaration the set-change benchmark adds to and
	// removes from the sales set.
	SalesExtra = "com.example.sales.calendar"
)

// DDMSets returns the sets of enrollment i.
func DDMSets(i int) []string {
	switch {
	case i%10 == 0:
		return []string{SetAll, SetSales}
	case i%5 == 1:
		return []string{SetAll, "engineering"}
	case i%20 == 3:
		return []string{SetAll, "support"}
	}
	return []string{SetAll}
}

// InSales returns how many of the first n enrollments are in the sales
// set.
func InSales(n int) int { return (n + 9) / 10 }

func asset(id, typ, contentType string) *ddm.Declaration {
	return &ddm.Declaration{Identifier: id, Type: "com.apple.asset." + typ,
		Payload: fmt.Appendf(nil, `{"Reference":{"DataURL":"https://assets.example.com/%s","ContentType":%q}}`, id, contentType)}
}

func config(id, typ string, payload string) *ddm.Declaration {
	return &ddm.Declaration{Identifier: id, Type: "com.apple.configuration." + typ, Payload: json.RawMessage(payload)}
}

func activation(id string, configs ...string) *ddm.Declaration {
	p, _ := json.Marshal(map[string][]string{"StandardConfigurations": configs})
	return &ddm.Declaration{Identifier: id, Type: "com.apple.activation.simple", Payload: p}
}

func app(id, bundle string, storeID int) *ddm.Declaration {
	return config(id, "app.managed", fmt.Sprintf(`{"AppStoreID":"%d","BundleID":%q,"InstallBehavior":{"Install":"Required"},"UpdateBehavior":{"AutomaticAppUpdates":"AlwaysOn"}}`, storeID, bundle))
}

func account(id, typ, host, cred string) *ddm.Declaration {
	return config(id, "account."+typ, fmt.Sprintf(`{"VisibleName":%q,"HostName":%q,"Port":443,"UserIdentityAssetReference":"com.example.identity","AuthenticationCredentialsAssetReference":%q}`, id, host, cred))
}

// DDMCatalog returns the 50 declarations and the four sets of the
// population.
func DDMCatalog() ([]*ddm.Declaration, map[string][]string) {
	byod := []*ddm.Declaration{
		{Identifier: "com.example.identity", Type: "com.apple.asset.useridentity", Payload: json.RawMessage(`{"FullName":"Example Employee","EmailAddress":"employee@example.com"}`)},
		asset("com.example.cred.mail", "credential.userpassword", "application/json"),
		asset("com.example.cred.exchange", "credential.userpassword", "application/json"),
		asset("com.example.cred.caldav", "credential.userpassword", "application/json"),
		asset("com.example.cred.carddav", "credential.userpassword", "application/json"),
		asset("com.example.cert.root", "credential.certificate", "application/pkix-cert"),
		asset("com.example.cert.intermediate", "credential.certificate", "application/pkix-cert"),
		config("com.example.passcode", "passcode.settings", `{"RequirePasscode":true,"MinimumLength":6,"RequireAlphanumericPasscode":false,"MaximumFailedAttempts":10}`),
		config("com.example.mail", "account.mail", `{"VisibleName":"Example Mail","UserIdentityAssetReference":"com.example.identity","IncomingServer":{"ServerType":"IMAP","HostName":"imap.example.com","Port":993,"AuthenticationMethod":"Password","AuthenticationCredentialsAssetReference":"com.example.cred.mail"},"OutgoingServer":{"HostName":"smtp.example.com","Port":587,"AuthenticationMethod":"Password","AuthenticationCredentialsAssetReference":"com.example.cred.mail"}}`),
		config("com.example.exchange", "account.exchange", `{"VisibleName":"Example Exchange","UserIdentityAssetReference":"com.example.identity","HostName":"outlook.example.com","Port":443,"Path":"/EWS/Exchange.asmx","AuthenticationCredentialsAssetReference":"com.example.cred.exchange","EnabledProtocolTypes":["EAS"]}`),
		account("com.example.caldav", "caldav", "calendar.example.com", "com.example.cred.caldav"),
		account("com.example.carddav", "carddav", "contacts.example.com", "com.example.cred.carddav"),
		config("com.example.cert.root.install", "security.certificate", `{"CredentialAssetReference":"com.example.cert.root"}`),
		config("com.example.cert.intermediate.install", "security.certificate", `{"CredentialAssetReference":"com.example.cert.intermediate"}`),
		app("com.example.app.teams", "com.example.teams", 1113153706),
		app("com.example.app.outlook", "com.example.outlook", 951937596),
		app("com.example.app.authenticator", "com.example.authenticator", 983156458),
		asset("com.example.profile.wifi", "data", "application/x-apple-aspen-config"),
		config("com.example.wifi", "legacy", `{"ProfileAssetReference":"com.example.profile.wifi"}`),
		app("com.example.app.intranet", "com.example.intranet", 1000000001),
		app("com.example.app.expenses", "com.example.expenses", 1000000002),
		app("com.example.app.travel", "com.example.travel", 1000000003),
		config("com.example.softwareupdate", "softwareupdate.enforcement.specific", `{"TargetOSVersion":"18.2","TargetLocalDateTime":"2026-12-31T18:00:00"}`),
		config("com.example.disk", "diskmanagement.settings", `{"Restrictions":{"ExternalStorage":"ReadOnly"}}`),
		activation("com.example.activation.byod", "com.example.passcode", "com.example.mail", "com.example.exchange", "com.example.caldav", "com.example.carddav",
			"com.example.cert.root.install", "com.example.cert.intermediate.install", "com.example.wifi"),
		activation("com.example.activation.apps", "com.example.app.teams", "com.example.app.outlook", "com.example.app.authenticator",
			"com.example.app.intranet", "com.example.app.expenses", "com.example.app.travel"),
		activation("com.example.activation.updates", "com.example.softwareupdate", "com.example.disk"),
		{Identifier: "com.example.org", Type: "com.apple.management.organization-info", Payload: json.RawMessage(`{"OrganizationName":"Example Corp","OrganizationEmail":"it@example.com"}`)},
		{Identifier: "com.example.properties", Type: "com.apple.management.properties", Payload: json.RawMessage(`{"region":"emea","tier":"standard"}`)},
		{Identifier: "com.example.capabilities", Type: "com.apple.management.server-capabilities", Payload: json.RawMessage(`{"Version":"1","SupportedFeatures":{}}`)},
	}
	sales := []*ddm.Declaration{
		asset("com.example.cred.crm", "credential.userpassword", "application/json"),
		app(SalesApp, "com.example.crm", 1000000010),
		app("com.example.sales.app.quotes", "com.example.quotes", 1000000011),
		app("com.example.sales.app.maps", "com.example.maps", 1000000012),
		config("com.example.sales.contacts", "account.carddav", `{"VisibleName":"CRM contacts","HostName":"crm.example.com","Port":443,"AuthenticationCredentialsAssetReference":"com.example.cred.crm"}`),
		activation("com.example.activation.sales", SalesApp, "com.example.sales.app.quotes", "com.example.sales.app.maps", "com.example.sales.contacts"),
	}
	extra := []*ddm.Declaration{
		config(SalesExtra, "account.subscribed-calendar", `{"VisibleName":"Sales events","CalendarURL":"https://calendar.example.com/sales.ics"}`),
		activation("com.example.activation.sales-calendar", SalesExtra),
	}
	eng := []*ddm.Declaration{
		asset("com.example.cert.eng", "credential.certificate", "application/pkix-cert"),
		asset("com.example.cred.git", "credential.userpassword", "application/json"),
		config("com.example.eng.cert", "security.certificate", `{"CredentialAssetReference":"com.example.cert.eng"}`),
		app("com.example.eng.app.git", "com.example.git", 1000000020),
		app("com.example.eng.app.ci", "com.example.ci", 1000000021),
		app("com.example.eng.app.docs", "com.example.docs", 1000000022),
		config("com.example.eng.ldap", "account.ldap", `{"VisibleName":"Directory","HostName":"ldap.example.com","Port":636,"AuthenticationCredentialsAssetReference":"com.example.cred.git"}`),
		activation("com.example.activation.eng", "com.example.eng.cert", "com.example.eng.app.git", "com.example.eng.app.ci", "com.example.eng.app.docs", "com.example.eng.ldap"),
	}
	support := []*ddm.Declaration{
		app("com.example.support.app.tickets", "com.example.tickets", 1000000030),
		app("com.example.support.app.chat", "com.example.chat", 1000000031),
		config("com.example.support.calendar", "account.subscribed-calendar", `{"VisibleName":"On call","CalendarURL":"https://calendar.example.com/oncall.ics"}`),
		activation("com.example.activation.support", "com.example.support.app.tickets", "com.example.support.app.chat", "com.example.support.calendar"),
	}
	ids := func(ds []*ddm.Declaration) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Identifier)
		}
		return out
	}
	all := slices.Concat(byod, sales, extra, eng, support)
	return all, map[string][]string{SetAll: ids(byod), SetSales: ids(sales), "engineering": ids(eng), "support": ids(support)}
}

// DDMSeed writes the population's catalog to a fresh store through a
// ddm.Service, which checks every reference, and then the assignments and
// reported facts (iOS 17.6, as benchdata's devices) of enrollments 0 to
// n-1, each in one write.
func DDMSeed(ctx context.Context, s ddm.Store, n int) error {
	svc, err := ddm.New(s, noMDM{}, ddm.Config{})
	if err != nil {
		return err
	}
	decls, sets := DDMCatalog()
	for _, d := range decls {
		if err := svc.PutDeclaration(ctx, d); err != nil {
			return err
		}
	}
	for name, members := range sets {
		if err := svc.PutSet(ctx, name, members); err != nil {
			return err
		}
	}
	rev, err := s.Revision(ctx)
	if err != nil {
		return err
	}
	ch := &ddm.Change{PutAssignments: make([]*ddm.Assignment, n)}
	facts := make(map[mdm.EnrollmentID]ddm.Facts, n)
	for i := range n {
		ch.PutAssignments[i] = &ddm.Assignment{Enrollment: DeviceID(i), Sets: DDMSets(i)}
		facts[DeviceID(i)] = ddm.Facts{Platform: "iOS", OSVersion: "17.6"}
	}
	if _, err = s.Apply(ctx, rev, ch); err != nil {
		return err
	}
	return s.PutFacts(ctx, facts)
}

// noMDM knows no enrollment: seeding the catalog tells no device.
type noMDM struct{}

func (noMDM) Enrollment(context.Context, mdm.EnrollmentID) (*mdm.EnrollmentRecord, error) {
	return nil, mdm.ErrNotFound
}

func (noMDM) Enrollments(context.Context, []mdm.EnrollmentID) (map[mdm.EnrollmentID]*mdm.EnrollmentRecord, error) {
	return map[mdm.EnrollmentID]*mdm.EnrollmentRecord{}, nil
}

func (noMDM) Enqueue(context.Context, *mdm.Command, ...mdm.EnrollmentID) ([]mdm.PushResult, error) {
	return nil, mdm.ErrNotFound
}

// NewMDMService returns an mdm.Service over ms that pushes through p (nil:
// no pushes), as package ddm's MDM.
func NewMDMService(ms mdm.Store, p mdm.Pusher) (*mdm.Service, error) {
	_, ca, err := selfSigned("Example Corp device CA")
	if err != nil {
		return nil, err
	}
	return mdm.NewService(ms, mdm.Config{Roots: []*x509.Certificate{ca}, Prechecker: mdm.NoPrechecker, Pusher: p})
}

// countingPusher accepts every push and counts them.
type countingPusher struct{ n atomic.Int64 }

func (p *countingPusher) Push(_ context.Context, targets []mdm.PushTarget) ([]mdm.PushResult, error) {
	p.n.Add(int64(len(targets)))
	out := make([]mdm.PushResult, len(targets))
	for i, t := range targets {
		out[i] = mdm.PushResult{EnrollmentID: t.EnrollmentID}
	}
	return out, nil
}

// checkin calls Respond as package mdm does once it has verified the
// device.
func checkin(ctx context.Context, s *ddm.Service, id mdm.EnrollmentID, endpoint string, data []byte) ([]byte, error) {
	return s.Respond(ctx, &mdm.Request{Enrollment: mdm.Channel{ID: id, Type: mdm.UserEnrollmentDevice}, Message: &mdm.DeclarativeManagement{
		Header: mdm.Header{MessageType: mdm.MessageDeclarativeManagement}, Endpoint: endpoint, Data: data}})
}

// statusReport returns the full status report a device sends after
// applying what declaration-items listed: the default subscription's
// items and every declaration's state.
func statusReport(items []byte, osVersion string) ([]byte, error) {
	var in struct {
		Declarations map[string][]struct{ Identifier, ServerToken string }
	}
	if err := json.Unmarshal(items, &in); err != nil {
		return nil, err
	}
	type state struct {
		Identifier  string `json:"identifier"`
		ServerToken string `json:"server-token"`
		Active      bool   `json:"active"`
		Valid       string `json:"valid"`
	}
	decls := map[string][]state{}
	for class, list := range in.Declarations {
		key := map[string]string{"Activations": "activations", "Assets": "assets", "Configurations": "configurations", "Management": "management"}[class]
		decls[key] = []state{}
		for _, it := range list {
			decls[key] = append(decls[key], state{it.Identifier, it.ServerToken, true, "valid"})
		}
	}
	return json.Marshal(map[string]any{
		"StatusItems": map[string]any{
			"device": map[string]any{
				"model":            map[string]any{"family": "iPhone", "identifier": "iPhone15,2", "marketing-name": "iPhone 14 Pro"},
				"operating-system": map[string]any{"family": "iOS", "version": osVersion, "build-version": "21G80"},
			},
			"passcode": map[string]any{"is-compliant": true, "is-present": true},
			"management": map[string]any{
				"client-capabilities": map[string]any{"supported-versions": []string{"1.0.0"}, "supported-features": map[string]any{},
					"supported-payloads": map[string]any{"declarations": map[string]any{
						"activations": []string{"com.apple.activation.simple"}, "assets": []string{"com.apple.asset.credential.userpassword", "com.apple.asset.useridentity", "com.apple.asset.data", "com.apple.asset.credential.certificate"},
						"configurations": []string{"com.apple.configuration.account.mail", "com.apple.configuration.passcode.settings", "com.apple.configuration.app.managed", "com.apple.configuration.management.status-subscriptions"},
						"management":     []string{"com.apple.management.organization-info", "com.apple.management.properties", "com.apple.management.server-capabilities"}},
						"status-items": ddm.DefaultStatusItems}},
				"declarations": decls,
			},
		},
		"Errors":     []any{},
		"FullReport": true,
	})
}

// DDM is the body of each durable store's BenchmarkDDM: n enrollments of
// the population (seeded by the caller: their mdm records in ms, and
// DDMSeed in ds), served by a ddm.Service over an mdm.Service on ms that
// pushes through a pusher that accepts every push. Each sub-benchmark
// spreads its requests over the enrollments, as the server sees them once
// mdm has verified the device:
//
//   - tokens, declaration-items: a device whose state is current.
//   - declaration: one configuration fetched.
//   - status: a full status report (5.5 KB) from a device that reported
//     before, with the platform and OS release already known.
//   - status-os-update: the same report from a device that updated its
//     OS: its facts are written and its state recomputed.
//   - tokens-after-change: the first tokens request after the catalog
//     changed, which recomputes and stores the device's state.
//   - tokens-after-os-update: a tokens request from a device whose state
//     is current, right after another device reported a new OS release
//     (a status report whose facts are written, untimed), as during an OS
//     rollout.
//   - fanout-modify: a configuration of the sales set (n/10 enrollments)
//     changed; the time is that of the admin request, which queues
//     DeclarativeManagement for every affected enrollment and pushes it.
//     Reported per op and per enrollment (ns/enrollment), with the pushes.
//   - fanout-set: a declaration added to or removed from the sales set,
//     likewise.
func DDM(b *testing.B, ds ddm.Store, ms mdm.Store, n int) {
	b.Helper()
	ctx := context.Background()
	pusher := &countingPusher{}
	msvc, err := NewMDMService(ms, pusher)
	if err != nil {
		b.Fatal(err)
	}
	s, err := ddm.New(ds, msvc, ddm.Config{})
	if err != nil {
		b.Fatal(err)
	}
	// The devices the per-request benchmarks visit: a spread of up to
	// 10,000, each synced once beforehand as a device is after enrolling.
	pool := make([]mdm.EnrollmentID, min(n, 10_000))
	for k := range pool {
		pool[k] = DeviceID(k * 7919 % n)
		if _, err := s.Sync(ctx, pool[k]); err != nil {
			b.Fatal(err)
		}
	}
	// A status report per set combination, for what its devices are served.
	reports := map[string][]byte{}
	reportOf := func(k int, osVersion string) []byte {
		i := k * 7919 % n
		key := fmt.Sprint(DDMSets(i), osVersion)
		if r, ok := reports[key]; ok {
			return r
		}
		items, err := checkin(ctx, s, pool[k], ddm.EndpointDeclarationItems, nil)
		if err != nil {
			b.Fatal(err)
		}
		r, err := statusReport(items, osVersion)
		if err != nil {
			b.Fatal(err)
		}
		reports[key] = r
		return r
	}
	// Each has reported its status once, as a device does after its
	// first sync.
	for k := range pool {
		if _, err := checkin(ctx, s, pool[k], ddm.EndpointStatus, reportOf(k, "17.6")); err != nil {
			b.Fatal(err)
		}
	}
	for _, ep := range []string{ddm.EndpointTokens, ddm.EndpointDeclarationItems, ddm.EndpointDeclaration + "configuration/com.example.passcode"} {
		name := ep
		if ep != ddm.EndpointTokens && ep != ddm.EndpointDeclarationItems {
			name = "declaration"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := checkin(ctx, s, pool[i%len(pool)], ep, nil); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
	b.Run("status", func(b *testing.B) {
		report := reportOf(0, "17.6")
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := i % len(pool)
			if _, err := checkin(ctx, s, pool[k], ddm.EndpointStatus, reportOf(k, "17.6")); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(len(report)), "report-bytes")
	})
	osRound := 0
	b.Run("status-os-update", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := i % len(pool)
			if k == 0 {
				osRound++ // every device updates once a round
			}
			if _, err := checkin(ctx, s, pool[k], ddm.EndpointStatus, reportOf(k, fmt.Sprintf("18.%d", osRound))); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("tokens-after-change", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := i % len(pool)
			if k == 0 {
				// A change another replica made: every state is stale.
				b.StopTimer()
				rev, err := ds.Revision(ctx)
				if err != nil {
					b.Fatal(err)
				}
				unassigned := config("com.example.bench.unassigned", "passcode.settings", fmt.Sprintf(`{"MinimumLength":%d}`, 4+rev%8))
				if _, err := ds.Apply(ctx, rev, &ddm.Change{PutDeclarations: []*ddm.Declaration{unassigned}}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			if _, err := checkin(ctx, s, pool[k], ddm.EndpointTokens, nil); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	lastOS := make([]string, len(pool))
	b.Run("tokens-after-os-update", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := i % len(pool)
			// The measured device is current, as after its last sync;
			// then another device, half the pool away, reports a release
			// it did not report last.
			b.StopTimer()
			if _, err := s.Sync(ctx, pool[k]); err != nil {
				b.Fatal(err)
			}
			other := (k + len(pool)/2) % len(pool)
			osVersion := "18.5"
			if lastOS[other] == osVersion {
				osVersion = "18.6"
			}
			lastOS[other] = osVersion
			if _, err := checkin(ctx, s, pool[other], ddm.EndpointStatus, reportOf(other, osVersion)); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := checkin(ctx, s, pool[k], ddm.EndpointTokens, nil); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	fanout := func(b *testing.B, change func(i int) error) {
		affected := InSales(n)
		pushed := pusher.n.Load()
		b.ReportAllocs()
		i := 0
		start := time.Now()
		for b.Loop() {
			if err := change(i); err != nil {
				b.Fatal(err)
			}
			i++
		}
		took := time.Since(start)
		b.ReportMetric(float64(took.Nanoseconds())/float64(i*affected), "ns/enrollment")
		b.ReportMetric(float64(pusher.n.Load()-pushed)/float64(i), "pushes/op")
		if got := pusher.n.Load() - pushed; got < int64(i*affected) {
			b.Fatalf("%d pushes after %d changes of a set of %d enrollments", got, i, affected)
		}
	}
	// Each change undoes the one before, also across runs.
	round := 0
	b.Run("fanout-modify", func(b *testing.B) {
		fanout(b, func(int) error {
			round++
			return s.PutDeclaration(ctx, app(SalesApp, "com.example.crm", 1000000010+round%2))
		})
	})
	_, sets := DDMCatalog()
	setRound := 0
	b.Run("fanout-set", func(b *testing.B) {
		fanout(b, func(int) error {
			setRound++
			members := sets[SetSales]
			if setRound%2 == 1 {
				members = append(slices.Clone(members), "com.example.activation.sales-calendar")
			}
			return s.PutSet(ctx, SetSales, members)
		})
	})
}
