package main

import (
	"os"
	"path/filepath"
	"slices"
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
      userenrollment:
        mode: allowed
    macOS:
      userenrollment:
        mode: forbidden
payloadkeys:
- key: Message
  supportedOS:
    iOS:
      userenrollment:
        mode: forbidden
`

const eraseYAML = `payload:
  requesttype: EraseDevice
  supportedOS:
    iOS:
      userenrollment:
        mode: forbidden
    visionOS:
      userenrollment:
        mode: allowed
`

const macOnlyYAML = `payload:
  requesttype: SetFirmwarePassword
  supportedOS:
    iOS:
      introduced: n/a
    macOS:
      userenrollment:
        mode: allowed
`

func TestScan(t *testing.T) {
	tests := []struct {
		name, yaml, wantType, wantMode string
	}{
		{"allowed", lockYAML, "DeviceLock", "allowed"},
		{"forbidden on iOS, allowed elsewhere", eraseYAML, "EraseDevice", "forbidden"},
		{"not on iOS", macOnlyYAML, "SetFirmwarePassword", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, mode, err := scan(strings.NewReader(tc.yaml))
			if err != nil || rt != tc.wantType || mode != tc.wantMode {
				t.Fatalf("scan = %q, %q, %v; want %q, %q", rt, mode, err, tc.wantType, tc.wantMode)
			}
		})
	}
}

func TestScanDirAndRender(t *testing.T) {
	dir := t.TempDir()
	for name, y := range map[string]string{"device.lock.yaml": lockYAML, "device.erase.yaml": eraseYAML, "fw.yaml": macOnlyYAML} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := scanDir(dir)
	if err != nil || !slices.Equal(got, []string{"DeviceLock"}) {
		t.Fatalf("scanDir = %q, %v", got, err)
	}
	src, err := render(got)
	if err != nil || !strings.Contains(string(src), `"DeviceLock",`) || !strings.HasPrefix(string(src), "// Code generated") {
		t.Fatalf("render = %s, %v", src, err)
	}
	if _, err := scanDir(t.TempDir()); err == nil {
		t.Fatal("empty directory accepted")
	}
}

// TestGeneratedTableIsCurrent regenerates the table from a schema checkout
// named by APPLE_DEVICE_MANAGEMENT and compares it with the committed file.
func TestGeneratedTableIsCurrent(t *testing.T) {
	root := os.Getenv("APPLE_DEVICE_MANAGEMENT")
	if root == "" {
		t.Skip("set APPLE_DEVICE_MANAGEMENT to a device-management schema checkout to compare the generated table")
	}
	allowed, err := scanDir(filepath.Join(root, "mdm", "commands"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := render(allowed)
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
