package mdm_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/store/memory"
	"howett.net/plist"
)

func ExampleDecodeCheckin() {
	// What an iPhone sends first under User Enrollment: six keys, no UDID.
	body := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
	<key>BuildVersion</key><string>22B83</string>
	<key>EnrollmentID</key><string>B7C8D9E0-1F2A-4B3C-9D4E-5F6A7B8C9D0E</string>
	<key>MessageType</key><string>Authenticate</string>
	<key>OSVersion</key><string>18.1</string>
	<key>ProductName</key><string>iPhone16,1</string>
	<key>Topic</key><string>com.apple.mgmt.External.9b2c4f1e</string>
</dict></plist>`)
	msg, err := mdm.DecodeCheckin(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	auth := msg.(*mdm.Authenticate)
	e, _ := auth.Resolve()
	fmt.Println(auth.MessageType, auth.ProductName, auth.OSVersion)
	fmt.Println(e.Type, e.ID)
	// Output:
	// Authenticate iPhone16,1 18.1
	// user-enrollment-device B7C8D9E0-1F2A-4B3C-9D4E-5F6A7B8C9D0E
}

func ExampleCheckPolicy() {
	iPhone := &mdm.EnrollmentRecord{ID: "E1", Type: mdm.UserEnrollmentDevice, Platform: mdm.PlatformIOS, OSVersion: "18.1"}
	mac := &mdm.EnrollmentRecord{ID: "E2", Type: mdm.UserEnrollmentDevice, Platform: mdm.PlatformMacOS, OSVersion: "15.1"}
	fmt.Println(mdm.CheckPolicy(iPhone, "InstallMedia"))
	err := mdm.CheckPolicy(mac, "InstallMedia")
	fmt.Println(errors.Is(err, mdm.ErrCommandNotAllowed))
	fmt.Println(err)
	fmt.Println(mdm.CheckPolicy(mac, "InstallEnterpriseApplication"))
	// Output:
	// <nil>
	// true
	// mdm: command InstallMedia not allowed for user-enrollment-device enrollment E2 (macOS 15.1): not on the device channel on macOS
	// <nil>
}

func ExampleNewCommand() {
	cmd, err := mdm.NewCommand("0D5C1D3A-0001", map[string]any{
		"RequestType":     "InstalledApplicationList",
		"ManagedAppsOnly": true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cmd.UUID, cmd.RequestType)
	// Output: 0D5C1D3A-0001 InstalledApplicationList
}

// exampleCA makes a CA and a device identity certificate issued by it, as a
// SCEP or ACME server would.
func exampleCA() (ca *x509.Certificate, devCert *x509.Certificate, devKey *rsa.PrivateKey) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Example Device CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, caKey.Public(), caKey)
	ca, _ = x509.ParseCertificate(der)
	devKey, _ = rsa.GenerateKey(rand.Reader, 2048)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "device"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, _ = x509.CreateCertificate(rand.Reader, leaf, ca, devKey.Public(), caKey)
	devCert, _ = x509.ParseCertificate(der)
	return ca, devCert, devKey
}

func ExampleNewService() {
	ca, devCert, devKey := exampleCA()
	svc, err := mdm.NewService(memory.NewMDMStore(), mdm.Config{
		Roots: []*x509.Certificate{ca},
		// With package enroll: Prechecker and Observer are the
		// enroll.Service, which ties every device to its enrollment.
		Prechecker: mdm.NoPrechecker,
		// Pusher: an apns client.
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(svc) // mount it at the CheckInURL and ServerURL
	defer srv.Close()

	// The device side (here the simulated device): every request carries
	// an Mdm-Signature.
	put := func(ct, body string) string {
		sig, _ := devicesim.MdmSignature([]byte(body), devCert, devKey, devicesim.SignatureOptions{})
		req, _ := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Mdm-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		if resp.ContentLength == 0 {
			return resp.Status
		}
		var b strings.Builder
		_, _ = fmt.Fprint(&b, resp.Status)
		buf := make([]byte, 1<<14)
		n, _ := resp.Body.Read(buf)
		if c, err := mdm.ParseCommand(buf[:n]); err == nil {
			fmt.Fprintf(&b, " %s", c.RequestType)
		}
		return b.String()
	}
	const id = `<key>EnrollmentID</key><string>B7C8D9E0</string>`
	fmt.Println(put(mdm.ContentTypeCheckin, `<plist><dict><key>MessageType</key><string>Authenticate</string>`+id+`<key>OSVersion</key><string>18.1</string><key>ProductName</key><string>iPhone16,1</string><key>Topic</key><string>com.apple.mgmt.x</string></dict></plist>`))
	fmt.Println(put(mdm.ContentTypeCheckin, `<plist><dict><key>MessageType</key><string>TokenUpdate</string>`+id+`<key>Token</key><data>AQI=</data><key>PushMagic</key><string>m</string></dict></plist>`))

	cmd, _ := mdm.NewCommand("C-1", map[string]any{"RequestType": "ProfileList"})
	if _, err := svc.Enqueue(context.Background(), cmd, "B7C8D9E0"); err != nil {
		fmt.Println(err)
	}
	erase, _ := mdm.NewCommand("C-2", map[string]any{"RequestType": "EraseDevice"})
	_, err = svc.Enqueue(context.Background(), erase, "B7C8D9E0")
	fmt.Println(err)

	fmt.Println(put(mdm.ContentTypeCommand, `<plist><dict><key>Status</key><string>Idle</string>`+id+`</dict></plist>`))
	fmt.Println(put(mdm.ContentTypeCommand, `<plist><dict><key>Status</key><string>Acknowledged</string><key>CommandUUID</key><string>C-1</string>`+id+`</dict></plist>`))
	// Output:
	// 200 OK
	// 200 OK
	// mdm: command EraseDevice not allowed for user-enrollment-device enrollment B7C8D9E0 (iOS 18.1): not allowed under User Enrollment on iOS
	// 200 OK ProfileList
	// 200 OK
}

func ExampleMAIDIssuer() {
	// The private key of the MDM server's certificate registered in Apple
	// Business Manager (credentials.LoadSigner reads one from a file), and
	// the server_uuid Apple Business Manager reports for that server.
	abmKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		fmt.Println(err)
		return
	}
	serverUUID := "677cd2d8-c5a5-4d8b-9f0a-3b1e4f6a7c2d"

	maid, err := mdm.NewMAIDIssuer(abmKey, serverUUID) // RSA → RS256; P-256 → ES256
	if err != nil {
		fmt.Println(err)
		return
	}
	tokens := mdm.Tokens{mdm.TokenServiceMAID: maid} // server.Config.Tokens

	// The Service hands Tokens a GetToken check-in once its identity and
	// enrollment checks have passed.
	getToken := func(service string) *mdm.Request {
		return &mdm.Request{Message: &mdm.GetToken{Header: mdm.Header{MessageType: mdm.MessageGetToken}, TokenServiceType: service}}
	}
	body, err := tokens.Respond(context.Background(), getToken(mdm.TokenServiceMAID))
	if err != nil {
		fmt.Println(err)
		return
	}
	var resp struct{ TokenData []byte }
	if _, err := plist.Unmarshal(body, &resp); err != nil {
		fmt.Println(err)
		return
	}
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(string(resp.TokenData), ".")[0])
	fmt.Println(string(header))

	_, err = tokens.Respond(context.Background(), getToken("com.apple.watch.pairing"))
	fmt.Println(mdm.StatusCode(err), errors.Is(err, mdm.ErrUnknownTokenService))
	// Output:
	// {"alg":"RS256","typ":"JWT"}
	// 400 true
}
