package enroll

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"go.mozilla.org/pkcs7"
	"howett.net/plist"

	"github.com/enrollkit/enrollkit/internal/ber"
)

func machineInfoPlist(t testing.TB, m map[string]any) []byte {
	t.Helper()
	b, err := plist.Marshal(m, plist.XMLFormat)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseMachineInfo(t *testing.T) {
	ca := IssueCert(t, "Test Device CA", nil, true)
	device := IssueCert(t, "device", ca, false)
	stranger := IssueCert(t, "Other CA", nil, true)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(stranger.Cert)

	info := machineInfoPlist(t, map[string]any{
		"LANGUAGE": "en", "PRODUCT": "iPhone16,1", "VERSION": "22B83", "OS_VERSION": "18.1",
		"SOFTWARE_UPDATE_DEVICE_ID": "D83AP", "MDM_CAN_REQUEST_SOFTWARE_UPDATE": true,
		"SUPPLEMENTAL_BUILD_VERSION": "22B83", "SUPPLEMENTAL_OS_VERSION_EXTRA": "",
	})
	body := SignCMS(t, info, false, device, ca.Cert)

	t.Run("valid without roots", func(t *testing.T) {
		mi, err := parseMachineInfo(body, machineInfoOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if mi.Product != "iPhone16,1" || mi.Version != "22B83" || mi.OSVersion != "18.1" || mi.Language != "en" ||
			mi.SoftwareUpdateDeviceID != "D83AP" || !mi.CanRequestSoftwareUpdate || mi.SupplementalBuildVersion != "22B83" {
			t.Fatalf("got %+v", mi)
		}
		if !mi.Signer.Equal(device.Cert) {
			t.Fatal("signer is not the device certificate")
		}
	})
	t.Run("valid with roots", func(t *testing.T) {
		if _, err := parseMachineInfo(body, machineInfoOptions{Roots: roots}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("valid pinned, also once the chain expired", func(t *testing.T) {
		for _, pinned := range [][]*x509.Certificate{{ca.Cert}, {stranger.Cert, ca.Cert}} {
			if _, err := parseMachineInfo(body, machineInfoOptions{Pinned: pinned, Now: time.Now().Add(72 * time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("sha1 and rsa as older devices sign", func(t *testing.T) {
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "rsa device"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &rsaKey.PublicKey, ca.Key)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		sd, _ := pkcs7.NewSignedData(info)
		sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA1)
		if err := sd.AddSigner(cert, rsaKey, pkcs7.SignerInfoConfig{}); err != nil {
			t.Fatal(err)
		}
		b, _ := sd.Finish()
		mi, err := parseMachineInfo(b, machineInfoOptions{Roots: roots})
		if err != nil || mi.Product != "iPhone16,1" {
			t.Fatalf("got %+v, %v", mi, err)
		}
	})
	t.Run("string boolean", func(t *testing.T) {
		b := SignCMS(t, machineInfoPlist(t, map[string]any{"PRODUCT": "iPad", "MDM_CAN_REQUEST_SOFTWARE_UPDATE": "true"}), false, device)
		mi, err := parseMachineInfo(b, machineInfoOptions{})
		if err != nil || !mi.CanRequestSoftwareUpdate {
			t.Fatalf("got %+v, %v", mi, err)
		}
	})

	tampered := append([]byte(nil), body...)
	i := strings.Index(string(tampered), "iPhone16,1")
	tampered[i] = 'X'
	unsigned, _ := pkcs7.NewSignedData(info)
	noSigner, _ := unsigned.Finish()
	detached := SignCMS(t, info, true, device)

	bad := []struct {
		name string
		body []byte
		opts machineInfoOptions
	}{
		{"empty", nil, machineInfoOptions{}},
		{"too large", make([]byte, maxMachineInfoSize+1), machineInfoOptions{}},
		{"not cms", []byte("<plist></plist>"), machineInfoOptions{}},
		{"truncated", body[:len(body)/2], machineInfoOptions{}},
		{"tampered content", tampered, machineInfoOptions{}},
		{"no signer", noSigner, machineInfoOptions{}},
		{"detached", detached, machineInfoOptions{}},
		{"untrusted chain", body, machineInfoOptions{Roots: otherRoots}},
		{"expired chain", body, machineInfoOptions{Roots: roots, Now: time.Now().Add(72 * time.Hour)}},
		{"not pinned", body, machineInfoOptions{Pinned: []*x509.Certificate{stranger.Cert}}},
		{"pinned leaf is no CA", body, machineInfoOptions{Pinned: []*x509.Certificate{device.Cert}}},
		{"pinned apple", body, machineInfoOptions{Pinned: AppleDeviceCAs()}},
		{"content not plist", SignCMS(t, []byte("hello"), false, device), machineInfoOptions{}},
		{"content plist array", SignCMS(t, machineInfoPlist(t, map[string]any{"a": 1})[:0:0], false, device), machineInfoOptions{}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseMachineInfo(tt.body, tt.opts)
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

func FuzzParseMachineInfo(f *testing.F) {
	ca := IssueCert(f, "Test Device CA", nil, true)
	device := IssueCert(f, "device", ca, false)
	signed := SignCMS(f, machineInfoPlist(f, map[string]any{"PRODUCT": "iPhone16,1", "LANGUAGE": "en"}), false, device, ca.Cert)
	f.Add(signed)
	streamed, err := ber.Stream(signed, 64)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(streamed)
	for _, g := range GenuineDeviceBodies {
		f.Add(g.Read(f))
	}
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x80})
	f.Add([]byte("not cms"))
	f.Fuzz(func(t *testing.T, body []byte) {
		mi, err := parseMachineInfo(body, machineInfoOptions{})
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("error does not match ErrInvalidInput: %v", err)
			}
			return
		}
		if mi.Signer == nil {
			t.Fatal("accepted a body without a signer")
		}
	})
}

func TestParseBearerChallenge(t *testing.T) {
	tests := []struct {
		name       string
		header     string
		wantMethod string
		wantURL    string
		wantParams map[string]string
		wantErr    bool
	}{
		{name: "apple sample, comma", header: `Bearer method="apple-as-web", url="https://mdm.example.com/enroll/account?x=1"`,
			wantMethod: "apple-as-web", wantURL: "https://mdm.example.com/enroll/account?x=1"},
		{name: "space only", header: `Bearer method="apple-as-web" url="https://a.example/p"`,
			wantMethod: "apple-as-web", wantURL: "https://a.example/p"},
		{name: "comma no space", header: `Bearer method="apple-as-web",url="https://a.example/p"`,
			wantMethod: "apple-as-web", wantURL: "https://a.example/p"},
		{name: "case and token value", header: `bearer METHOD=apple-oauth2 , Url="u"`,
			wantMethod: "apple-oauth2", wantURL: "u"},
		{name: "escapes", header: `Bearer method="a\"b", url="c\\d"`, wantMethod: `a"b`, wantURL: `c\d`},
		{name: "extra params", header: `Bearer realm="corp", method="apple-as-web", url="u", error="invalid_token"`,
			wantMethod: "apple-as-web", wantURL: "u", wantParams: map[string]string{"realm": "corp", "error": "invalid_token"}},
		{name: "after another scheme", header: `Basic realm="x", Bearer method="apple-as-web", url="u"`,
			wantMethod: "apple-as-web", wantURL: "u"},
		{name: "before another scheme", header: `Bearer method="apple-as-web" url="u", Basic realm="x"`,
			wantMethod: "apple-as-web", wantURL: "u"},
		{name: "bare bearer", header: `Bearer`, wantParams: map[string]string{}},
		{name: "unquoted URL", header: `Bearer method=apple-as-web, url=https://a.example/p?x=1`,
			wantMethod: "apple-as-web", wantURL: "https://a.example/p?x=1"},
		{name: "token68 instead of parameters", header: `Bearer abc==`, wantErr: true},
		{name: "not bearer", header: `Basic realm="x"`, wantErr: true},
		{name: "empty", header: ``, wantErr: true},
		{name: "unterminated", header: `Bearer method="apple-as-web`, wantErr: true},
		{name: "dangling escape", header: `Bearer method="a\`, wantErr: true},
		{name: "repeated", header: `Bearer url="a", url="b"`, wantErr: true},
		{name: "garbage", header: `Bearer "quoted"`, wantErr: true},
		{name: "empty token value", header: `Bearer url=`, wantErr: true},
		{name: "empty quoted value", header: `Bearer url=""`, wantParams: map[string]string{"url": ""}},
		{name: "too long", header: `Bearer url="` + strings.Repeat("a", maxChallengeLen) + `"`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseBearerChallenge(tt.header)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("error = %v, want ErrInvalidInput", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Method != tt.wantMethod || c.URL != tt.wantURL {
				t.Fatalf("got method %q url %q", c.Method, c.URL)
			}
			for k, v := range tt.wantParams {
				if c.Params[k] != v {
					t.Errorf("param %q = %q, want %q", k, c.Params[k], v)
				}
			}
		})
	}
}

func TestBearerChallengeString(t *testing.T) {
	c := BearerChallenge{Method: BearerChallengeMethodWeb, URL: `https://p.example/a?b="c"`, Params: map[string]string{"realm": `x\y`, "method": "ignored"}}
	s := c.String()
	want := `Bearer method="apple-as-web", url="https://p.example/a?b=\"c\"", realm="x\\y"`
	if s != want {
		t.Fatalf("String = %s\nwant     %s", s, want)
	}
	back, err := ParseBearerChallenge(s)
	if err != nil || back.Method != c.Method || back.URL != c.URL || back.Params["realm"] != `x\y` {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
}

func FuzzParseBearerChallenge(f *testing.F) {
	f.Add(`Bearer method="apple-as-web", url="https://mdm.example.com/enroll"`)
	f.Add(`Bearer method="apple-as-web" url="https://a.example/p"`)
	f.Add(`Basic realm="x", Bearer method=apple-oauth2`)
	f.Add(`Bearer url="a\"b\\"`)
	f.Fuzz(func(t *testing.T, header string) {
		c, err := ParseBearerChallenge(header)
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("error does not match ErrInvalidInput: %v", err)
			}
			return
		}
		// What the parser accepted formats to a header that parses back to
		// the same method, url and parameters.
		back, err := ParseBearerChallenge(c.String())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", c.String(), err)
		}
		if back.Method != c.Method || back.URL != c.URL || len(back.Params) != len(c.Params) {
			t.Fatalf("round trip changed %+v into %+v", c, back)
		}
		for k, v := range c.Params {
			if back.Params[k] != v {
				t.Fatalf("param %q: %q became %q", k, v, back.Params[k])
			}
		}
	})
}
