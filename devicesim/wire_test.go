package devicesim_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mozilla.org/pkcs7"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/internal/testenv"
	"github.com/enrollkit/enrollkit/mdm"
)

func testIdentity(t testing.TB) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x1234567890), Subject: pkix.Name{CommonName: "device"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func TestMdmSignatureOpenSSL(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	cert, key := testIdentity(t)
	body := []byte("<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>Status</key><string>Idle</string></dict></plist>\n")
	for _, tc := range []struct {
		name   string
		opts   devicesim.SignatureOptions
		digest asn1.ObjectIdentifier
	}{
		{"device default: SHA-1, BER", devicesim.SignatureOptions{}, asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}},
		{"SHA-256, BER", devicesim.SignatureOptions{SHA256: true}, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}},
		{"SHA-1, DER", devicesim.SignatureOptions{DER: true}, asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}},
		{"SHA-256, DER", devicesim.SignatureOptions{SHA256: true, DER: true}, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr, err := devicesim.MdmSignature(body, cert, key, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := base64.StdEncoding.DecodeString(hdr)
			if err != nil {
				t.Fatal(err)
			}
			if indefinite := sig[1] == 0x80; indefinite == tc.opts.DER {
				t.Errorf("outer length byte %#x: indefinite=%v, want %v", sig[1], indefinite, !tc.opts.DER)
			}
			if tc.opts.DER {
				var ci struct {
					Type    asn1.ObjectIdentifier
					Content asn1.RawValue `asn1:"explicit,tag:0"`
				}
				if rest, err := asn1.Unmarshal(sig, &ci); err != nil || len(rest) != 0 {
					t.Errorf("DER option is not strict DER: %v", err)
				}
			}
			if err := opensslVerify(openssl, t.TempDir(), sig, body); err != nil {
				t.Fatal(err)
			}
			if err := opensslVerify(openssl, t.TempDir(), sig, append(bytes.Clone(body), ' ')); err == nil {
				t.Fatal("openssl accepted the signature over a different body")
			}
			p7, err := pkcs7.Parse(sig)
			if err != nil {
				t.Fatal(err)
			}
			if len(p7.Content) != 0 || len(p7.Signers) != 1 || len(p7.Signers[0].AuthenticatedAttributes) != 0 {
				t.Fatalf("want detached content, one signer, no signed attributes")
			}
			if !p7.Signers[0].DigestAlgorithm.Algorithm.Equal(tc.digest) {
				t.Errorf("digest algorithm %v, want %v", p7.Signers[0].DigestAlgorithm.Algorithm, tc.digest)
			}
			if !p7.Certificates[0].Equal(cert) {
				t.Error("signer certificate not included")
			}
			p7.Content = body
			if err := p7.Verify(); err != nil {
				t.Errorf("pkcs7 Verify: %v", err)
			}
		})
	}
}

// TestMdmSignatureAcceptedByMDM checks every signing variant against the
// server-side verifier of package mdm.
func TestMdmSignatureAcceptedByMDM(t *testing.T) {
	cert, key := testIdentity(t)
	body := []byte("<plist><dict/></plist>")
	for _, opts := range []devicesim.SignatureOptions{{}, {SHA256: true}, {DER: true}, {SHA256: true, DER: true}} {
		sig, err := devicesim.SignDetached(body, cert, key, opts)
		if err != nil {
			t.Fatal(err)
		}
		signer, _, err := mdm.VerifySignature(sig, body)
		if err != nil || !signer.Equal(cert) {
			t.Errorf("%+v: mdm.VerifySignature = %v", opts, err)
		}
		if _, _, err := mdm.VerifySignature(sig, append(body, 'x')); err == nil {
			t.Errorf("%+v: accepted over another body", opts)
		}
	}
}

func TestSignDetachedErrors(t *testing.T) {
	cert, key := testIdentity(t)
	if _, err := devicesim.SignDetached(nil, nil, key, devicesim.SignatureOptions{}); err == nil {
		t.Error("signed without a certificate")
	}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := devicesim.SignDetached(nil, cert, ed, devicesim.SignatureOptions{}); err == nil {
		t.Error("signed with an Ed25519 key")
	}
}

// TestSignDetachedECDSA checks the signature of an ACME identity, whose
// Secure Enclave key is ECDSA.
func TestSignDetachedECDSA(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "se"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	body := []byte("<plist/>")
	for _, opts := range []devicesim.SignatureOptions{{}, {SHA256: true, DER: true}} {
		sig, err := devicesim.SignDetached(body, cert, key, opts)
		if err != nil {
			t.Fatalf("%+v: %v", opts, err)
		}
		if signer, _, err := mdm.VerifySignature(sig, body); err != nil || !signer.Equal(cert) {
			t.Errorf("%+v: mdm.VerifySignature = %v", opts, err)
		}
	}
}

func TestParseWWWAuthenticate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []devicesim.Challenge
		err  bool
	}{
		{`Bearer method="apple-as-web", url="https://p.example/auth?x=1"`,
			[]devicesim.Challenge{{Scheme: "Bearer", Params: map[string]string{"method": "apple-as-web", "url": "https://p.example/auth?x=1"}}}, false},
		{`Bearer method="apple-as-web" url="https://p.example/a"`,
			[]devicesim.Challenge{{Scheme: "Bearer", Params: map[string]string{"method": "apple-as-web", "url": "https://p.example/a"}}}, false},
		{`Bearer   METHOD = "apple-as-web" ,url=https://p.example/a`,
			[]devicesim.Challenge{{Scheme: "Bearer", Params: map[string]string{"method": "apple-as-web", "url": "https://p.example/a"}}}, false},
		{`Basic realm="a \"b\"", Bearer method="apple-oauth2"`,
			[]devicesim.Challenge{{Scheme: "Basic", Params: map[string]string{"realm": `a "b"`}}, {Scheme: "Bearer", Params: map[string]string{"method": "apple-oauth2"}}}, false},
		{`Negotiate abc==`, []devicesim.Challenge{{Scheme: "Negotiate", Params: map[string]string{"": "abc=="}}}, false},
		{`Bearer`, []devicesim.Challenge{{Scheme: "Bearer", Params: map[string]string{}}}, false},
		{``, nil, true},
		{`Bearer url="unterminated`, nil, true},
		{`"quoted"`, nil, true},
	} {
		got, err := devicesim.ParseWWWAuthenticate(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("%q: err = %v", tc.in, err)
			continue
		}
		if !tc.err && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

func FuzzParseWWWAuthenticate(f *testing.F) {
	for _, s := range []string{`Bearer method="apple-as-web", url="https://x/y"`, `Bearer method="a" url="b"`,
		`Basic realm="x", Bearer a=b`, `Negotiate abc==`, `Bearer url="\"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		chs, err := devicesim.ParseWWWAuthenticate(s)
		if err == nil && len(chs) == 0 {
			t.Fatal("no error and no challenge")
		}
		for _, c := range chs {
			if c.Scheme == "" || c.Params == nil {
				t.Fatalf("malformed challenge %+v", c)
			}
		}
	})
}

const samplePage = `<!doctype html><html><body>
<div role="alert">  Please
 sign in. </div>
<form method="get" action="/search"><input name="q"></form>
<form method="POST" action="next?step=2">
 <input type="hidden" name="csrf" value="t0k">
 <input name="username" required>
 <input type="password" name="password">
 <input type="radio" name="ownership" value="corporate" checked>
 <input type="radio" name="ownership" value="employee">
 <select name="lang"><option>en</option><option value="de" selected>Deutsch</option></select>
 <input type="checkbox" name="accept" value="yes">
 <input type="checkbox" name="news" value="1">
 <input type="checkbox" name="keep" checked>
 <textarea name="note">hi</textarea>
 <input type="reset" name="r">
 <button type="submit" name="go" value="1">Go</button>
 <button type="submit" name="other" value="2">Other</button>
</form>
<a id="download-profile" href="/dl/1">Download</a>
</body></html>`

func TestParsePageAndValues(t *testing.T) {
	base, _ := url.Parse("https://portal.example/enroll/page")
	p, err := devicesim.ParsePage(strings.NewReader(samplePage), base)
	if err != nil {
		t.Fatal(err)
	}
	if p.Alert != "Please sign in." || p.DownloadURL != "https://portal.example/dl/1" || len(p.Forms) != 2 {
		t.Fatalf("page = %+v", p)
	}
	f := p.Forms[1]
	if f.Method != "POST" || f.Action != "https://portal.example/enroll/next?step=2" {
		t.Errorf("form = %s %s", f.Method, f.Action)
	}
	v, err := f.Values(devicesim.Credentials{Username: "u", Password: "p", Passcode: "1"})
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"csrf": {"t0k"}, "username": {"u"}, "password": {"p"}, "ownership": {"employee"},
		"lang": {"de"}, "accept": {"yes"}, "keep": {"on"}, "note": {"hi"}, "go": {"1"}}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("values:\n got %v\nwant %v", v, want)
	}
	if v, _ := f.Values(devicesim.Credentials{DeclineTerms: true}); v.Has("accept") {
		t.Error("accept sent although declined")
	}
	if _, err := f.Values(devicesim.Credentials{Ownership: "visitor"}); err == nil {
		t.Error("unknown ownership choice accepted")
	}
	unknown := devicesim.Form{Fields: []devicesim.Field{{Tag: "input", Type: "text", Name: "employee-number", Required: true}}}
	if _, err := unknown.Values(devicesim.Credentials{}); err == nil {
		t.Error("required unknown field accepted")
	}
	noBase, _ := devicesim.ParsePage(strings.NewReader(`<form method=post><select name=ownership><option>corporate<option>employee</select></form>`), nil)
	if v, err := noBase.Forms[0].Values(devicesim.Credentials{}); err != nil || v.Get("ownership") != "employee" {
		t.Errorf("select ownership = %v, %v", v, err)
	}
}

func FuzzParsePage(f *testing.F) {
	f.Add(samplePage)
	f.Add(`<form method=post><input name=passcode></form><p role=alert>x`)
	f.Add(`<a id="download-profile" href="::bad">x</a><select name=a><optgroup><option value=1>`)
	base, _ := url.Parse("https://portal.example/a/b")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := devicesim.ParsePage(strings.NewReader(s), base)
		if err != nil {
			return
		}
		for _, form := range p.Forms {
			v, err := form.Values(devicesim.Credentials{Username: "u"})
			if err == nil && v == nil {
				t.Fatal("nil values without error")
			}
		}
	})
}

func BenchmarkMdmSignature(b *testing.B) {
	cert, key := testIdentity(b)
	body := bytes.Repeat([]byte("x"), 2048)
	for _, tc := range []struct {
		name string
		opts devicesim.SignatureOptions
	}{{"SHA1-BER", devicesim.SignatureOptions{}}, {"SHA256-DER", devicesim.SignatureOptions{SHA256: true, DER: true}}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := devicesim.MdmSignature(body, cert, key, tc.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParsePage(b *testing.B) {
	base, _ := url.Parse("https://portal.example/enroll/page")
	b.ReportAllocs()
	for b.Loop() {
		p, err := devicesim.ParsePage(strings.NewReader(samplePage), base)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Forms[1].Values(devicesim.Credentials{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		name, body, uuid, reqType string
		ok                        bool
	}{
		{"valid", `<plist><dict><key>CommandUUID</key><string>u1</string><key>Command</key><dict><key>RequestType</key><string>ProfileList</string></dict></dict></plist>`, "u1", "ProfileList", true},
		{"no RequestType", `<plist><dict><key>CommandUUID</key><string>u2</string><key>Command</key><dict/></dict></plist>`, "u2", "", false},
		{"Command not a dictionary", `<plist><dict><key>CommandUUID</key><string>u3</string><key>Command</key><string>x</string></dict></plist>`, "u3", "", false},
		{"CommandUUID not a string", `<plist><dict><key>CommandUUID</key><integer>4</integer><key>Command</key><dict/></dict></plist>`, "", "", false},
		{"not a plist", `{"CommandUUID":"u5"}`, "", "", false},
		{"binary garbage", "bplist00\xff\xff\xff\xff", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := devicesim.ParseCommand([]byte(tc.body))
			if (err == nil) != tc.ok || c.CommandUUID != tc.uuid || c.RequestType != tc.reqType {
				t.Errorf("ParseCommand = %+v, %v", c, err)
			}
		})
	}
}

func FuzzParseCommand(f *testing.F) {
	f.Add([]byte(`<plist><dict><key>CommandUUID</key><string>u1</string><key>Command</key><dict><key>RequestType</key><string>ProfileList</string></dict></dict></plist>`))
	f.Add([]byte("bplist00\xd1\x01\x02QaQb\x08\x0b\x0d\x00\x00\x00\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := devicesim.ParseCommand(b)
		if err == nil && (c.CommandUUID == "" || c.RequestType == "" || c.Fields == nil) {
			t.Fatalf("accepted an incomplete command %+v", c)
		}
	})
}

// FuzzBearerChallengeAgreesWithEnroll checks the device's challenge parser
// against the server's: a challenge enroll writes (BearerChallenge.String)
// reads back with the same method and url, and on any input both parsers
// accept they read the same method and url.
func FuzzBearerChallengeAgreesWithEnroll(f *testing.F) {
	f.Add("apple-as-web", "https://x/y?a=b", `Bearer method="apple-as-web" url="https://x/y"`)
	f.Add("apple-oauth2", `https://x/"q"\`, `Basic realm=x, bearer  method = "apple-oauth2" ,url="u"`)
	f.Fuzz(func(t *testing.T, method, u, header string) {
		if method != "" && u != "" {
			written := enroll.BearerChallenge{Method: method, URL: u}.String()
			if back, err := enroll.ParseBearerChallenge(written); err == nil && back.Method == method && back.URL == u {
				chs, err := devicesim.ParseWWWAuthenticate(written)
				if err != nil || len(chs) != 1 || chs[0].Params["method"] != method || chs[0].Params["url"] != u {
					t.Fatalf("%q: devicesim reads %+v, %v", written, chs, err)
				}
			}
		}
		want, err := enroll.ParseBearerChallenge(header)
		if err != nil {
			return
		}
		chs, err := devicesim.ParseWWWAuthenticate(header)
		if err != nil {
			return // devicesim is stricter about what follows a challenge
		}
		for _, c := range chs {
			if strings.EqualFold(c.Scheme, "Bearer") {
				if _, t68 := c.Params[""]; t68 {
					return // "Bearer x==" is token68 by the grammar; enroll reads a parameter
				}
				if c.Params["method"] != want.Method || c.Params["url"] != want.URL {
					t.Fatalf("%q: enroll reads %q %q, devicesim %q %q", header, want.Method, want.URL, c.Params["method"], c.Params["url"])
				}
				return
			}
		}
	})
}
