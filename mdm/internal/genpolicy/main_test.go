package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const lockYAML = `title: Device Lock Command
payload:
  requesttype: DeviceLock
  supportedOS:
    iOS:
      introduced: '4.0'
      sharedipad:
        mode: allowed
        devicechannel: true
        userchannel: false
      userenrollment:
        mode: allowed
    macOS:
      introduced: '10.7'
      devicechannel: true
      userchannel: false
      userenrollment:
        mode: forbidden
    tvOS:
      introduced: n/a
payloadkeys:
- key: Message
  supportedOS:
    iOS:
      userenrollment:
        mode: forbidden
    macOS:
      introduced: '10.14'
`

const mediaYAML = `payload:
  requesttype: InstallMedia
  supportedOS:
    iOS:
      introduced: '8.0'
      userenrollment:
        mode: allowed
    macOS:
      introduced: '10.9'
      devicechannel: false
      userchannel: true
      userenrollment:
        mode: forbidden
`

const updateYAML = `payload:
  requesttype: ScheduleOSUpdate
  supportedOS:
    iOS:
      introduced: '9.0'
      sharedipad:
        mode: required
        userchannel: true
      userenrollment:
        mode: forbidden
    tvOS:
      introduced: '12.0'
      devicechannel: true
    watchOS:
      introduced: n/a
`

const readme = "# Schema\n\n| OS       | Version |\n|----------|---------|\n| iOS      | 18.1    |\n| macOS    | 15.1    |\n"

const changes = `# Changes

## mdm/checkin

### New Objects

- New: mdm/commands/not-a-command-section.yaml

## mdm/commands

### New Objects

- New: mdm/commands/trigger.enhanced.log.collection.yaml

### Removed Objects

- Removed: mdm/commands/system.update.schedule.yaml

### Removed Payload Keys

- Removed: mdm/commands/device.lock.yaml/Message
`

func TestScan(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       command
	}{
		{"device lock", lockYAML, command{RequestType: "DeviceLock", OS: [numOS]osFacts{
			iOS:   {Introduced: "4.0", Device: true, UserEnrollment: true, SharedDevice: true},
			macOS: {Introduced: "10.7", Device: true},
		}}},
		{"user channel only on macOS", mediaYAML, command{RequestType: "InstallMedia", OS: [numOS]osFacts{
			iOS:   {Introduced: "8.0", Device: true, UserEnrollment: true},
			macOS: {Introduced: "10.9", User: true},
		}}},
		{"removed in the schema itself", `payload:
  requesttype: Old
  supportedOS:
    iOS:
      introduced: '5.0'
      deprecated: '6.1.6'
      removed: '17.0'
    macOS:
      introduced: '10.7'
      removed: n/a
`, command{RequestType: "Old", OS: [numOS]osFacts{
			iOS:   {Introduced: "5.0", Removed: "17.0", Device: true},
			macOS: {Introduced: "10.7", Device: true},
		}}},
		{"shared iPad required", updateYAML, command{RequestType: "ScheduleOSUpdate", OS: [numOS]osFacts{
			iOS:  {Introduced: "9.0", Device: true, SharedDevice: true, SharedUser: true},
			tvOS: {Introduced: "12.0", Device: true},
		}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scan(strings.NewReader(tc.yaml))
			if err != nil || got != tc.want {
				t.Fatalf("scan = %+v, %v\nwant %+v", got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"introduced: soon", "introduced: '1.0'\n      removed: later"} {
		if _, err := scan(strings.NewReader("payload:\n  supportedOS:\n    iOS:\n      " + bad + "\n")); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

func writeSchema(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestLoadAppliesChanges(t *testing.T) {
	root := writeSchema(t, map[string]string{
		"README.md":                                readme,
		"CHANGES-27.0.md":                          changes,
		"CHANGES-18.0.md":                          "## mdm/commands\n\n### Removed Objects\n\n- Removed: mdm/commands/device.lock.yaml\n",
		"mdm/commands/device.lock.yaml":            lockYAML,
		"mdm/commands/media.install.yaml":          mediaYAML,
		"mdm/commands/system.update.schedule.yaml": updateYAML,
	})
	tb, err := load(root)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Folder != "18.1" || tb.Release != "27.0" || len(tb.Changes) != 1 || tb.Changes[0] != "CHANGES-27.0.md" {
		t.Fatalf("folder %q, release %q, changes %q", tb.Folder, tb.Release, tb.Changes)
	}
	var names []string
	byType := map[string]command{}
	for _, c := range tb.Commands {
		names = append(names, c.RequestType)
		byType[c.RequestType] = c
	}
	// The retired software-update commands the folder lacks come from
	// facts.go, marked removed.
	if strings.Join(names, " ") != "AvailableOSUpdates DeviceLock InstallMedia OSUpdateStatus ScheduleOSUpdate ScheduleOSUpdateScan TriggerEnhancedLogCollection" {
		t.Fatalf("commands %q", names)
	}
	// The older change list (18.0 ≤ the folder's 18.1) is not applied.
	if byType["DeviceLock"].OS[iOS].Removed != "" {
		t.Error("an older change list was applied")
	}
	upd := byType["ScheduleOSUpdate"]
	if upd.OS[iOS].Removed != "27.0" || upd.OS[tvOS].Removed != "27.0" || upd.OS[macOS].Removed != "" || upd.OS[watchOS].Introduced != "" {
		t.Errorf("ScheduleOSUpdate = %+v", upd)
	}
	if byType["TriggerEnhancedLogCollection"] != newer["trigger.enhanced.log.collection.yaml"] {
		t.Error("new command not taken from newer.go")
	}
	src, err := render(tb)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"// Code generated", `const schemaRelease = "27.0"`, "the 18.1 schema with CHANGES-27.0.md",
		`schemaIOS:  {introduced: "9.0", removed: "27.0", device: true, sharedDevice: true, sharedUser: true},`,
		`schemaMacOS: {introduced: "10.9", user: true},`} {
		if !strings.Contains(string(src), want) {
			t.Errorf("rendered table lacks %q:\n%s", want, src)
		}
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"no commands", map[string]string{"README.md": readme}},
		{"no release", map[string]string{"README.md": "# Schema\n", "mdm/commands/device.lock.yaml": lockYAML}},
		{"removed file missing", map[string]string{"README.md": readme, "CHANGES-27.0.md": changes,
			"mdm/commands/device.lock.yaml": lockYAML}},
		{"new file unknown", map[string]string{"README.md": readme, "mdm/commands/device.lock.yaml": lockYAML,
			"CHANGES-28.0.md": "## mdm/commands\n\n### New Objects\n\n- New: mdm/commands/brand.new.yaml\n"}},
		{"duplicate request type", map[string]string{"README.md": readme, "mdm/commands/a.yaml": lockYAML, "mdm/commands/b.yaml": lockYAML}},
		{"no request type", map[string]string{"README.md": readme, "mdm/commands/a.yaml": "payload:\n  supportedOS:\n"}},
		{"bad change list name", map[string]string{"README.md": readme, "mdm/commands/a.yaml": lockYAML, "CHANGES-next.md": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := load(writeSchema(t, tc.files)); err == nil {
				t.Fatal("load succeeded")
			}
		})
	}
}

// TestGeneratedTableIsCurrent regenerates the table from the schema root
// named by APPLE_DEVICE_MANAGEMENT and compares it with the committed file.
func TestGeneratedTableIsCurrent(t *testing.T) {
	root := os.Getenv("APPLE_DEVICE_MANAGEMENT")
	if root == "" {
		t.Skip("set APPLE_DEVICE_MANAGEMENT to a device-management schema root to compare the generated table")
	}
	tb, err := load(root)
	if err != nil {
		t.Fatal(err)
	}
	src, err := render(tb)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join("..", "..", "zz_policy.go"))
	if err != nil {
		t.Fatal(err)
	}
	if string(src) != string(committed) {
		t.Fatalf("zz_policy.go is stale; run go generate in mdm")
	}
}

// TestFactsMatchSchema checks the facts genpolicy carries for files a
// folder may lack against a schema root that has those files (the 18.1
// folder has the retired ones), and that a folder without them yields the
// same table.
func TestFactsMatchSchema(t *testing.T) {
	root := os.Getenv("APPLE_DEVICE_MANAGEMENT")
	if root == "" {
		t.Skip("set APPLE_DEVICE_MANAGEMENT to a device-management schema root to compare the facts")
	}
	full, err := load(root)
	if err != nil {
		t.Fatal(err)
	}
	byType := map[string]command{}
	for _, c := range full.Commands {
		byType[c.RequestType] = c
	}
	for f, c := range retired {
		if _, err := os.Stat(filepath.Join(root, "mdm", "commands", f)); err != nil {
			continue
		}
		if byType[c.RequestType] != c {
			t.Errorf("retired %s = %+v, the schema says %+v", f, c, byType[c.RequestType])
		}
	}
	// The same root without the retired files (as a 27.0 folder is) and
	// without the change list that retired them gives the same commands.
	trimmed := t.TempDir()
	if err := os.CopyFS(trimmed, os.DirFS(root)); err != nil {
		t.Fatal(err)
	}
	for f := range retired {
		os.Remove(filepath.Join(trimmed, "mdm", "commands", f))
	}
	os.Remove(filepath.Join(trimmed, "CHANGES-27.0.md"))
	tb, err := load(trimmed)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range tb.Commands {
		if want, ok := byType[c.RequestType]; ok && want != c {
			t.Errorf("%s without its file = %+v, with it %+v", c.RequestType, c, want)
		}
		delete(byType, c.RequestType)
	}
	for rt := range byType {
		if !isNewerType(rt) {
			t.Errorf("%s is lost without its file", rt)
		}
	}
}

func isNewerType(rt string) bool {
	for _, c := range newer {
		if c.RequestType == rt {
			return true
		}
	}
	return false
}
