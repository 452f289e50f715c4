package acme_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/internal/testenv"
)

// TestLogsCarryNoSecrets: an issuance and refusals are logged, and the
// logs carry neither the identifier (the enrollment's secret until it is
// redeemed) nor a challenge token nor a nonce.
func TestLogsCarryNoSecrets(t *testing.T) {
	var buf testenv.Buffer
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
