package apns2

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/apns"
	"github.com/enrollkit/enrollkit/mdm"
	sideshow "github.com/sideshow/apns2"
	"golang.org/x/net/http2"
)

const (
	topic = "com.apple.mgmt.External.6f1b6f7e-8a3c-4a43-9b7e-0d5c1f2a3b4c"
	// concurrency is the number of pushes in flight for both clients.
	concurrency = 100
	// batch is the number of devices pushed per Push call.
	batch = 1000
)

// setup starts the shared local APNs and returns its URL, the root pool
// and a push certificate it accepts.
func setup(b *testing.B) (url string, roots *x509.CertPool, push tls.Certificate) {
	b.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Bench CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		b.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	roots = x509.NewCertPool()
	roots.AddCert(ca)
	issue := func(serial int64, subject pkix.Name, server bool) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		t := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: subject,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if server {
			t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			t.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		der, err := x509.CreateCertificate(rand.Reader, t, ca, &key.PublicKey, caKey)
		if err != nil {
			b.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(der)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	}
	serverCert := issue(2, pkix.Name{CommonName: "api.push.test"}, true)
	push = issue(3, pkix.Name{CommonName: "APSP:" + topic, ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: topic},
	}}, false)

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Header.Get("apns-push-type") != "mdm" || r.Header.Get("apns-topic") != topic {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"reason":"BadTopic"}`)
			return
		}
		w.Header()["Apns-Id"] = []string{"7d8c9a4e-1b2f-4c3d-9e8f-0a1b2c3d4e5f"}
		w.WriteHeader(http.StatusOK)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots,
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	b.Cleanup(srv.Close)
	return srv.URL, roots, push
}

func tokens(n int) [][]byte {
	ts := make([][]byte, n)
	for i := range ts {
		ts[i] = make([]byte, 32)
		ts[i][0], ts[i][1], ts[i][31] = byte(i>>8), byte(i), 0xab
	}
	return ts
}

func report(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pushes/s")
}

// clients returns a push function for each client, each sending n pushes
// with concurrency in flight and failing b on any error.
func clients(b *testing.B, url string, roots *x509.CertPool, push tls.Certificate) (enrollkit, apns2 func(n int)) {
	b.Helper()
	toks := tokens(batch)
	ctx := context.Background()

	c, err := apns.New(push, apns.Options{BaseURL: url, RootCAs: roots, Concurrency: concurrency})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	targets := make([]mdm.PushTarget, batch)
	for i := range targets {
		targets[i] = mdm.PushTarget{EnrollmentID: fmt.Sprint(i), Token: toks[i], PushMagic: "5fd1e0b5-7d3c-4d2b-a1f4-8e6c0b9d2a7e", Topic: topic}
	}
	enrollkit = func(n int) {
		res, err := c.Push(ctx, targets[:n])
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}

	sc := sideshow.NewClient(push)
	sc.Host = url
	sc.HTTPClient.Transport.(*http2.Transport).TLSClientConfig.RootCAs = roots
	b.Cleanup(sc.CloseIdleConnections)
	notes := make([]*sideshow.Notification, batch)
	for i := range notes {
		notes[i] = &sideshow.Notification{
			DeviceToken: hex.EncodeToString(toks[i]),
			Topic:       topic,
			PushType:    sideshow.PushTypeMDM,
			Expiration:  time.Now().Add(7 * 24 * time.Hour),
			Priority:    sideshow.PriorityHigh,
			Payload:     []byte(`{"mdm":"5fd1e0b5-7d3c-4d2b-a1f4-8e6c0b9d2a7e"}`),
		}
	}
	apns2 = func(n int) {
		var next atomic.Int64
		var failed atomic.Pointer[error]
		var wg sync.WaitGroup
		for range min(concurrency, n) {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= n {
						return
					}
					res, err := sc.PushWithContext(ctx, notes[i])
					if err == nil && !res.Sent() {
						err = fmt.Errorf("status %d %s", res.StatusCode, res.Reason)
					}
					if err != nil {
						failed.Store(&err)
					}
				}
			})
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			b.Fatal(*err)
		}
	}
	// Connect both before measuring.
	enrollkit(1)
	apns2(1)
	return enrollkit, apns2
}

// run pushes b.N times with push, in batches.
func run(b *testing.B, push func(n int)) {
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(batch, b.N-done)
		push(n)
		done += n
	}
	report(b)
}

// BenchmarkPush pushes b.N MDM pushes with each client to the same local
// server over one HTTP/2 connection, concurrency pushes in flight.
func BenchmarkPush(b *testing.B) {
	url, roots, cert := setup(b)
	enrollkit, apns2 := clients(b, url, roots, cert)
	b.Run("client=enrollkit", func(b *testing.B) { run(b, enrollkit) })
	b.Run("client=apns2", func(b *testing.B) { run(b, apns2) })
}

// BenchmarkPushInterleaved alternates batches of the two clients and times
// each, so that both see the same load on a shared machine. It reports each
// client's pushes per second and the ratio; ns/op covers one push by each.
func BenchmarkPushInterleaved(b *testing.B) {
	url, roots, cert := setup(b)
	enrollkit, apns2 := clients(b, url, roots, cert)
	var tE, tA time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(batch, b.N-done)
		t0 := time.Now()
		enrollkit(n)
		t1 := time.Now()
		apns2(n)
		tA += time.Since(t1)
		tE += t1.Sub(t0)
		done += n
	}
	e, a := float64(b.N)/tE.Seconds(), float64(b.N)/tA.Seconds()
	b.ReportMetric(e, "enrollkit-pushes/s")
	b.ReportMetric(a, "apns2-pushes/s")
	b.ReportMetric(e/a, "speedup")
}
