package mdm_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/enrollkit/enrollkit/mdm"
)

// discardWriter is a ResponseWriter that keeps only the status, so that the
// benchmark measures the service rather than the recorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkCheckin measures one signed device request through the
// http.Handler: Mdm-Signature (SHA-1, RSA-2048, no signed attributes, as
// devices send it) and chain verification, plist decoding, the binding check
// and the memory store. Besides wall time it reports the process's CPU time
// per request (cpu-ns/op), which is what the budget of 150 µs is about.
func BenchmarkCheckin(b *testing.B) {
	h := newHarness(b, func(o *mdm.Config) { o.Pusher = nil; o.Observer = nil })
	d := newDevice(b, h.ca, mdm.Identifiers{EnrollmentID: "B7C8D9E0-1F2A-4B3C-9D4E-5F6A7B8C9D0E"}, 1)
	h.enroll(d)
	cases := []struct {
		name string
		ct   string
		body []byte
	}{
		{"TokenUpdate", mdm.ContentTypeCheckin, d.tokenUpdate("3q2+7w==")},
		{"Idle", mdm.ContentTypeCommand, d.status(mdm.StatusIdle, "")},
	}
	for _, c := range cases {
		sig, err := mdm.Sign(c.body, d.cert, d.key, &mdm.SignOptions{Hash: crypto.SHA1})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodPut, "/mdm", nil).WithContext(context.Background())
			r.Header.Set("Content-Type", c.ct)
			r.Header.Set("Mdm-Signature", sig)
			r.ContentLength = int64(len(c.body))
			rd := bytes.NewReader(c.body)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			cpu0, ok := processCPU()
			for b.Loop() {
				rd.Reset(c.body)
				r.Body = io.NopCloser(rd)
				w.code = 0
				h.svc.ServeHTTP(w, r)
				if w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
			if cpu1, ok2 := processCPU(); ok && ok2 {
				b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			}
		})
	}
}

// BenchmarkCheckinUncached is BenchmarkCheckin/TokenUpdate with the
// verified-certificate cache cold on every request (a new Service each time),
// as for a device's first request after a restart: it adds certificate
// parsing and crypto/x509 chain verification.
func BenchmarkCheckinUncached(b *testing.B) {
	h := newHarness(b, func(o *mdm.Config) { o.Pusher = nil; o.Observer = nil })
	d := newDevice(b, h.ca, mdm.Identifiers{EnrollmentID: "B7C8D9E0-1F2A-4B3C-9D4E-5F6A7B8C9D0E"}, 1)
	h.enroll(d)
	body := d.tokenUpdate("3q2+7w==")
	sig, err := mdm.Sign(body, d.cert, d.key, &mdm.SignOptions{Hash: crypto.SHA1})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPut, "/mdm", nil)
	r.Header.Set("Content-Type", mdm.ContentTypeCheckin)
	r.Header.Set("Mdm-Signature", sig)
	r.ContentLength = int64(len(body))
	rd := bytes.NewReader(body)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	cpu0, ok := processCPU()
	for b.Loop() {
		svc, err := mdm.NewService(h.store, mdm.Config{Roots: []*x509.Certificate{h.ca.cert}, Prechecker: mdm.NoPrechecker})
		if err != nil {
			b.Fatal(err)
		}
		rd.Reset(body)
		r.Body = io.NopCloser(rd)
		w.code = 0
		svc.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
	if cpu1, ok2 := processCPU(); ok && ok2 {
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
