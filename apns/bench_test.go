package apns_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/enrollkit/enrollkit/apns"
)

// benchServer is a minimal local APNs: HTTP/2 over TLS with client
// certificates, answering 200 with an apns-id.
func benchServer(b *testing.B, p *pki) *httptest.Server {
	b.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header()["Apns-Id"] = []string{"7d8c9a4e-1b2f-4c3d-9e8f-0a1b2c3d4e5f"}
		w.WriteHeader(http.StatusOK)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkPush measures pushes per second to a local HTTP/2 server over one
// connection, in batches of 1,000 devices.
func BenchmarkPush(b *testing.B) {
	p := newPKI(b)
	srv := benchServer(b, p)
	c, err := apns.New(p.pushCert(b, testTopic), apns.Options{BaseURL: srv.URL, RootCAs: p.pool})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ts := targets(1000)
	ctx := context.Background()
	// Warm the connection so that the handshake is not measured.
	if _, err := c.Push(ctx, ts[:1]); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(len(ts), b.N-done)
		res, err := c.Push(ctx, ts[:n])
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
		done += n
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pushes/s")
}
