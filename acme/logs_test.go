package acme_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/enrollkit/enrollkit/acme"
)

// syncBuffer is a bytes.Buffer safe for the handler's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsCarryNoSecrets: an issuance and refusals are logged, and the
// logs carry neither the identifier (the enrollment's secret until it is
// redeemed) nor a challenge token nor a nonce.
func TestLogsCarryNoSecrets(t *testing.T) {
	var buf syncBuffer
	e := newEnv(t, func(c *acme.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	d := newDevice(t, e)
	d.register(t)
	refused := d.mustOrder(t, idA)
	d.answer(t, refused, d.attest(t, "not the token"))
	o := d.mustOrder(t, idA)
	d.answer(t, o, d.attest(t, o.token))
	if r := d.finalize(t, o, d.csr(t, d.seKey)); r.status != http.StatusOK {
		t.Fatalf("finalize: %d %s", r.status, r.body)
	}
	spent := d.mustOrder(t, idA)
	d.answer(t, spent, d.attest(t, spent.token))
	d.finalize(t, spent, d.csr(t, d.seKey))
	logs := buf.String()
	for _, want := range []string{"issued identity certificate", "attestation refused", "identifier refused"} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %q in the logs:\n%s", want, logs)
		}
	}
	for _, secret := range []string{idA, o.token, refused.token, spent.token} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs carry %q:\n%s", secret, logs)
		}
	}
}
