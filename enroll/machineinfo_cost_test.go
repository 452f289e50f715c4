package enroll

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/internal/plistcheck"
)

// TestParseMachineInfoRefusesCostlyPlists: a signed MachineInfo whose
// values are packed denser than a device writes them (here, one empty
// dictionary per 20 bytes, some 1.7 KB each to decode) is refused before
// it is decoded; a real one of the same size passes.
func TestParseMachineInfoRefusesCostlyPlists(t *testing.T) {
	ca := IssueCert(t, "Test Device CA", nil, true)
	device := IssueCert(t, "device", ca, false)
	var b strings.Builder
	b.WriteString("<plist><dict><key>PRODUCT</key><string>iPhone16,1</string>")
	for i := 0; b.Len() < 40<<10; i++ {
		fmt.Fprintf(&b, "<key>k%d</key><dict/>", i)
	}
	b.WriteString("</dict></plist>")
	_, err := parseMachineInfo(SignCMS(t, []byte(b.String()), false, device, ca.Cert), machineInfoOptions{})
	var mie *machineInfoError
	if !errors.As(err, &mie) || !errors.Is(err, ErrInvalidInput) || !errors.Is(err, plistcheck.ErrCostly) {
		t.Fatalf("error = %v, want *MachineInfoError matching ErrInvalidInput and plistcheck.ErrCostly", err)
	}

	b.Reset()
	b.WriteString("<plist><dict><key>PRODUCT</key><string>iPhone16,1</string>")
	for i := 0; b.Len() < 40<<10; i++ {
		fmt.Fprintf(&b, "\n\t<key>LANGUAGE_%d</key>\n\t<string>en-US</string>", i)
	}
	b.WriteString("</dict></plist>")
	mi, err := parseMachineInfo(SignCMS(t, []byte(b.String()), false, device, ca.Cert), machineInfoOptions{})
	if err != nil || mi.Product != "iPhone16,1" {
		t.Fatalf("a plain MachineInfo of the same size: %+v, %v", mi, err)
	}
}
