package devicesim_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/enrollkit/enrollkit/devicesim"
)

// TestDeclarationsRefusedUnderUserEnrollment serves the device what a
// careless server might: declarations a user-enrolled iPhone may not take
// (a software update enforcement, a VPN its OS does not know yet, one of
// the wrong class) beside ones it may. The device refuses the first,
// applies the others, and reports each one's state.
func TestDeclarationsRefusedUnderUserEnrollment(t *testing.T) {
	ctx := context.Background()
	f := newFakeServer(t)
	decls := map[string]map[string]any{
		"configuration/passcode": {"Type": "com.apple.configuration.passcode.settings", "Identifier": "passcode", "ServerToken": "1", "Payload": map[string]any{"MinimumLength": 6}},
		"configuration/update":   {"Type": "com.apple.configuration.softwareupdate.enforcement.specific", "Identifier": "update", "ServerToken": "1", "Payload": map[string]any{"TargetOSVersion": "17.6"}},
		"configuration/vpn":      {"Type": "com.apple.configuration.network.vpn.ikev2", "Identifier": "vpn", "ServerToken": "1", "Payload": map[string]any{}},
		"configuration/odd":      {"Type": "com.apple.asset.data", "Identifier": "odd", "ServerToken": "1", "Payload": map[string]any{}},
		"activation/act":         {"Type": "com.apple.activation.simple", "Identifier": "act", "ServerToken": "1", "Payload": map[string]any{"StandardConfigurations": []string{"passcode", "update", "vpn"}}},
	}
	var mu sync.Mutex
	var report []byte
	f.ddm = func(endpoint string, data []byte) []byte {
		var v any
		switch {
		case endpoint == "tokens":
			v = map[string]any{"SyncTokens": map[string]any{"DeclarationsToken": "t1", "Timestamp": "2026-01-01T00:00:00Z"}}
		case endpoint == "declaration-items":
			item := func(id string) map[string]string { return map[string]string{"Identifier": id, "ServerToken": "1"} }
			v = map[string]any{"DeclarationsToken": "t1", "Declarations": map[string]any{
				"Activations": []any{item("act")}, "Configurations": []any{item("passcode"), item("update"), item("vpn"), item("odd")},
				"Assets": []any{}, "Management": []any{}}}
		case strings.HasPrefix(endpoint, "declaration/"):
			v = decls[strings.TrimPrefix(endpoint, "declaration/")]
		case endpoint == "status":
			mu.Lock()
			report = data
			mu.Unlock()
			return nil
		}
		b, _ := json.Marshal(v)
		return b
	}
	d := f.newDevice(t, devicesim.Options{})
	if err := d.EnrollWithInvitation(ctx, f.srv.URL+"/invite/good", goodCreds); err != nil {
		t.Fatal(err)
	}
	f.enqueue(t, "ddm-1", map[string]any{"RequestType": "DeclarativeManagement"})
	if _, err := d.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	held := d.Declarations()
	want := map[string]struct {
		valid  string
		active bool
	}{
		"act": {"valid", true}, "passcode": {"valid", true},
		"update": {"invalid", false}, "vpn": {"invalid", false}, "odd": {"invalid", false},
	}
	for id, w := range want {
		if got := held[id]; got.Valid != w.valid || got.Active != w.active {
			t.Errorf("%s: valid %q active %v, want %q %v (%s)", id, got.Valid, got.Active, w.valid, w.active, got.Reason)
		}
	}
	if tok, n := d.DeclarationsToken(); tok != "t1" || n != 1 {
		t.Errorf("token %q after %d syncs", tok, n)
	}
	mu.Lock()
	defer mu.Unlock()
	var rep struct {
		StatusItems struct {
			Management struct {
				Declarations struct {
					Configurations []struct {
						Identifier string `json:"identifier"`
						Valid      string `json:"valid"`
						Reasons    []struct {
							Code string `json:"code"`
						} `json:"reasons"`
					} `json:"configurations"`
				} `json:"declarations"`
			} `json:"management"`
		}
	}
	if err := json.Unmarshal(report, &rep); err != nil {
		t.Fatalf("status report %s: %v", report, err)
	}
	refused := 0
	for _, c := range rep.StatusItems.Management.Declarations.Configurations {
		if c.Valid == "invalid" && len(c.Reasons) > 0 {
			refused++
		}
	}
	if refused != 3 {
		t.Fatalf("status report refuses %d configurations, want 3: %s", refused, report)
	}
}
