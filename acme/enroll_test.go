package acme_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enrollkittest"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/profile"
)

// TestEnrollService plugs the Handler into a real enroll.Service the way
// scep's is: the single-use identifier enroll put in the profile (today
// the SCEP challenge; next, the ACME payload's ClientIdentifier) is
// ordered, redeemed once the attestation and the CSR are accepted, and
// the certificate is bound to the enrollment. A second device with the
// same identifier gets nothing.
func TestEnrollService(t *testing.T) {
	s := enrollkittest.NewServer(t, enrollkittest.Options{})
	ctx := t.Context()
	svc := s.Enroll
	meta := enroll.Meta{ClientIP: "198.51.100.7", UserAgent: "test"}
	inv := s.Invite(t, enrollkittest.DemoUser)
	e, err := svc.OpenInvitation(ctx, meta, inv.Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, meta, e.ID, enrollkittest.DemoUsername, enrollkittest.DemoPassword, enroll.OwnershipEmployee); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SubmitPasscode(ctx, meta, e.ID, inv.Passcode); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AcknowledgeInfo(ctx, meta, e.ID); err != nil {
		t.Fatal(err)
	}
	terms := svc.Terms()
	consent := enroll.Consent{Version: terms.Version, Digest: terms.Digest()}
	if consent.Version == "" { // the server shows no terms: any consent
		consent.Version = "1"
	}
	if _, err := svc.AcceptTerms(ctx, meta, e.ID, consent); err != nil {
		t.Fatal(err)
	}
	link, err := svc.IssueDownloadLink(ctx, meta, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	prof, err := svc.DownloadProfile(ctx, meta, link.Token)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := profile.Parse(prof.Data, profile.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var identifier string
	for _, p := range parsed.Profile.Payloads {
		if sc, ok := p.(*profile.SCEP); ok {
			identifier = sc.Challenge
		}
	}
	if identifier == "" {
		t.Fatal("no identity challenge in the profile")
	}

	root, err := testRoot()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	h, err := acme.NewHandler(svc, s.CA, acme.Config{BaseURL: srv.URL + "/acme", AttestationRoots: root.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/acme/", h)
	en := &env{t: t, srv: srv, h: h, root: root, base: srv.URL + "/acme"}

	d := newDevice(t, en)
	d.register(t)
	o := d.mustOrder(t, identifier)
	if r := d.answer(t, o, d.attest(t, o.token)); r.status != http.StatusOK {
		t.Fatalf("answer: %d %s", r.status, r.body)
	}
	r := d.finalize(t, o, d.csr(t, d.seKey))
	if r.status != http.StatusOK {
		t.Fatalf("finalize: %d %s", r.status, r.body)
	}
	var fin struct{ Certificate string }
	mustJSON(t, r.body, &fin)
	c := d.post(t, fin.Certificate, nil)
	cert := firstPEM(t, c.body)
	got, err := svc.Get(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.CertificateHash != mdm.FingerprintOf(cert).String() || !got.ChallengeUsed {
		t.Errorf("enrollment %s: certificate %q, challenge used %v", got.State, got.CertificateHash, got.ChallengeUsed)
	}

	thief := newDevice(t, en)
	thief.register(t)
	o2 := thief.mustOrder(t, identifier)
	thief.answer(t, o2, thief.attest(t, o2.token))
	if r := thief.finalize(t, o2, thief.csr(t, thief.seKey)); r.problemType() != errPrefix+"unauthorized" {
		t.Errorf("second device: %d %s", r.status, r.body)
	}
}
