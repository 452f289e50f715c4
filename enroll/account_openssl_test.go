package enroll

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.mozilla.org/pkcs7"

	"github.com/enrollkit/enrollkit/internal/testenv"
)

// writePEM writes blocks of type typ to a file in dir and returns its path.
func writePEM(t *testing.T, dir, name, typ string, ders ...[]byte) string {
	t.Helper()
	var buf bytes.Buffer
	for _, der := range ders {
		if err := pem.Encode(&buf, &pem.Block{Type: typ, Bytes: der}); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestParseMachineInfoStreamed checks a MachineInfo signed the way a device
// may stream it: BER with indefinite lengths and the content, larger than
// one 4 KiB chunk, cut into a constructed OCTET STRING. The CMS library on
// its own keeps only the first chunk.
func TestParseMachineInfoStreamed(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	ca := IssueCert(t, "Test Device CA", nil, true)
	device := IssueCert(t, "device", ca, false)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

	info := machineInfoPlist(t, map[string]any{
		"LANGUAGE": "en", "PRODUCT": "iPhone16,1", "VERSION": "22B83", "OS_VERSION": "18.1",
		"SOFTWARE_UPDATE_DEVICE_ID": "D83AP", "MDM_CAN_REQUEST_SOFTWARE_UPDATE": true,
		"SUPPLEMENTAL_OS_VERSION_EXTRA": strings.Repeat("(a)", 3000),
	})
	if len(info) <= 4<<10 {
		t.Fatalf("content of %d bytes fits in one chunk", len(info))
	}
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(device.Key)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "info.plist")
	if err := os.WriteFile(in, info, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(openssl, "cms", "-sign", "-stream", "-nodetach", "-binary", "-md", "sha256", "-outform", "DER",
		"-signer", writePEM(t, dir, "device.pem", "CERTIFICATE", device.Cert.Raw),
		"-inkey", writePEM(t, dir, "device.key", "PRIVATE KEY", keyDER),
		"-certfile", writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Cert.Raw),
		"-in", in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	body, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl cms -sign: %v\n%s", err, stderr.Bytes())
	}
	if len(body) < 2 || body[1] != 0x80 || !bytes.Contains(body, []byte{0x24, 0x80}) {
		t.Fatalf("openssl -stream did not produce chunked BER: % x", body[:min(len(body), 16)])
	}
	// The shape this test is about: the library alone does not verify it.
	if p7, err := pkcs7.Parse(body); err == nil && bytes.Equal(p7.Content, info) && p7.Verify() == nil {
		t.Fatal("the CMS library verified streamed content by itself; the test no longer covers the chunked case")
	}

	for _, opts := range []machineInfoOptions{{}, {Roots: roots}} {
		mi, err := parseMachineInfo(body, opts)
		if err != nil {
			t.Fatalf("roots %v: %v", opts.Roots != nil, err)
		}
		if mi.Product != "iPhone16,1" || mi.OSVersion != "18.1" || mi.SupplementalOSVersionExtra != strings.Repeat("(a)", 3000) ||
			!mi.CanRequestSoftwareUpdate || !mi.Signer.Equal(device.Cert) {
			t.Fatalf("got %+v", mi)
		}
	}

	// A byte changed in the last chunk is caught: every chunk is verified.
	tampered := bytes.Clone(body)
	i := bytes.LastIndex(tampered, []byte("(a)"))
	tampered[i+1] = 'b'
	var mie *machineInfoError
	if _, err := parseMachineInfo(tampered, machineInfoOptions{}); !errors.As(err, &mie) || !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("tampered last chunk: %v, want a *MachineInfoError", err)
	}
	// Nesting beyond the limit is refused before the CMS parser sees it.
	deep := append(bytes.Repeat([]byte{0x30, 0x80}, maxMachineInfoDepth+2), bytes.Repeat([]byte{0, 0}, maxMachineInfoDepth+2)...)
	if _, err := parseMachineInfo(deep, machineInfoOptions{}); !errors.As(err, &mie) || !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("deep nesting: %v, want a *MachineInfoError", err)
	}
}
