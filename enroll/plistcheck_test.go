package enroll

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// machineInfoBomb is a binary MachineInfo plist whose key X nests 26
// arrays, each holding two references to the next: 2^26 values once
// decoded into a map[string]any.
const machineInfoBomb = "62706c6973743030d3010203040506584c414e47554147455750524f44554354515852656e5a6950686f6e6531362c31a20707a20808a20909a20a0aa20b0ba20c0ca20d0da20e0ea20f0fa21010a21111a21212a21313a21414a21515a21616a21717a21818a21919a21a1aa21b1ba21c1ca21d1da21e1ea21f1fa220205178080f18202225303336393c3f4245484b4e5154575a5d606366696c6f7275787b7e0000000000000101000000000000002100000000000000000000000000000080"

func TestParseMachineInfoRefusesExpensivePlists(t *testing.T) {
	bomb, err := hex.DecodeString(machineInfoBomb)
	if err != nil {
		t.Fatal(err)
	}
	deep := "<plist><dict><key>PRODUCT</key><string>iPhone16,1</string><key>X</key>" +
		strings.Repeat("<array>", 20000) + strings.Repeat("</array>", 20000) + "</dict></plist>"
	ca := IssueCert(t, "Test Device CA", nil, true)
	device := IssueCert(t, "device", ca, false)
	for _, tt := range []struct {
		name    string
		content []byte
	}{
		{"binary shared arrays", bomb},
		{"xml nested 20000 levels", []byte(deep)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseMachineInfo(SignCMS(t, tt.content, false, device, ca.Cert), machineInfoOptions{})
			var mie *machineInfoError
			if !errors.As(err, &mie) || !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("error = %v, want *MachineInfoError matching ErrInvalidInput", err)
			}
			if !strings.HasPrefix(err.Error(), "enroll: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}
