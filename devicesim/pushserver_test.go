package devicesim_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"math/big"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/apns"
	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/mdm"
)

// pushCertificate returns an MDM push certificate for testTopic.
func pushCertificate(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(9),
		Subject: pkix.Name{CommonName: "APSP:test", ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: testTopic}}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// TestPushServerWithAPNsClient pushes with the apns package's client over
// HTTP/2: the push wakes the device, which fetches and answers the command.
func TestPushServerWithAPNsClient(t *testing.T) {
	ctx := testContext(t)
	f := newFakeServer(t)
	d := f.newDevice(t, devicesim.Options{})
	if err := d.EnrollWithInvitation(ctx, f.srv.URL+"/invite/good", goodCreds); err != nil {
		t.Fatal(err)
	}
	var ps devicesim.PushServer
	ps.Add(d)
	apnsSrv := httptest.NewUnstartedServer(&ps)
	apnsSrv.EnableHTTP2 = true
	apnsSrv.StartTLS()
	defer apnsSrv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(apnsSrv.Certificate())
	client, err := apns.New(pushCertificate(t), apns.Options{BaseURL: apnsSrv.URL, RootCAs: roots, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	f.enqueue(t, "pushed-1", map[string]any{"RequestType": "ProfileList"})
	target, _ := d.PushTarget()
	wrongMagic := target
	wrongMagic.PushMagic = "not-it"
	unknown := target
	unknown.Token = make([]byte, 32)
	res, err := client.Push(ctx, []mdm.PushTarget{target, wrongMagic, unknown})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[1].Err == nil || res[2].Err == nil {
		t.Fatalf("push results %+v", res)
	}
	for len(d.Commands()) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("pushed device did not answer")
		case <-time.After(10 * time.Millisecond):
		}
	}
	stop()
	<-done
	if c := d.Commands()[0]; c.CommandUUID != "pushed-1" || c.Status != "Acknowledged" {
		t.Errorf("answered %+v", c)
	}
	pushes := ps.Pushes() // in arrival order; the client sends concurrently
	delivered := 0
	for _, p := range pushes {
		if p.Delivered {
			delivered++
			if p.Header.Get("apns-push-type") != "mdm" || p.Header.Get("apns-topic") != testTopic ||
				string(p.Body) != `{"mdm":"`+target.PushMagic+`"}` || !bytes.Equal(p.Token, target.Token) {
				t.Errorf("delivered push %+v", p)
			}
		}
	}
	if len(pushes) != 3 || delivered != 1 {
		t.Errorf("%d pushes, %d delivered, want 3 and 1", len(pushes), delivered)
	}

	// After removal the token is dead, as APNs reports with 410.
	if err := d.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	res, err = client.Push(ctx, []mdm.PushTarget{target})
	if err != nil || !errors.Is(res[0].Err, mdm.ErrPushTokenDead) {
		t.Errorf("push to a removed device: %+v, %v", res, err)
	}
}

func TestPushServerRefusals(t *testing.T) {
	ctx := testContext(t)
	f := newFakeServer(t)
	d := f.newDevice(t, devicesim.Options{})
	if err := d.EnrollWithInvitation(ctx, f.srv.URL+"/invite/good", goodCreds); err != nil {
		t.Fatal(err)
	}
	var ps devicesim.PushServer
	ps.Add(d)
	target, _ := d.PushTarget()
	path := "/3/device/" + hex.EncodeToString(target.Token)
	good := `{"mdm":"` + target.PushMagic + `"}`
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		reason                   string
	}{
		{"accepted", "POST", path, good, nil, 200, ""},
		{"GET", "GET", path, good, nil, 405, "MethodNotAllowed"},
		{"bad path", "POST", "/2/device/ab", good, nil, 404, "BadPath"},
		{"token not hex", "POST", "/3/device/xyz", good, nil, 400, "BadDeviceToken"},
		{"alert push type", "POST", path, good, map[string]string{"apns-push-type": "alert"}, 400, "InvalidPushType"},
		{"no topic", "POST", path, good, map[string]string{"apns-topic": ""}, 400, "MissingTopic"},
		{"other topic", "POST", path, good, map[string]string{"apns-topic": "com.apple.mgmt.other"}, 400, "DeviceTokenNotForTopic"},
		{"priority 1", "POST", path, good, map[string]string{"apns-priority": "1"}, 400, "BadPriority"},
		{"bad expiration", "POST", path, good, map[string]string{"apns-expiration": "soon"}, 400, "BadExpirationDate"},
		{"empty body", "POST", path, "", nil, 400, "PayloadEmpty"},
		{"aps in body", "POST", path, `{"mdm":"` + target.PushMagic + `","aps":{}}`, nil, 400, "BadPayload"},
		{"not JSON", "POST", path, `mdm`, nil, 400, "BadPayload"},
		{"too large", "POST", path, strings.Repeat(" ", 5000), nil, 413, "PayloadTooLarge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			r.Header.Set("apns-push-type", "mdm")
			r.Header.Set("apns-topic", testTopic)
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			ps.ServeHTTP(w, r)
			if w.Code != tc.status || (tc.reason != "" && !strings.Contains(w.Body.String(), `"reason":"`+tc.reason+`"`)) {
				t.Errorf("%d %s, want %d %s", w.Code, w.Body, tc.status, tc.reason)
			}
			if w.Header().Get("apns-id") == "" {
				t.Error("no apns-id")
			}
		})
	}
}
