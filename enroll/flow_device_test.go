package enroll_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"testing"

	"howett.net/plist"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/profile"
)

// portalDevice is the device side after a profile was installed: it holds
// the identity certificate the SCEP server issued for the profile's
// challenge and speaks the check-in protocol to the MDM server.
type portalDevice struct {
	h            *harness
	id           *enroll.CertKey
	enrollmentID string
	bearer       string
	checkInURL   string
	topic        string
}

// installProfile verifies a served profile and plays the SCEP server's part
// for its challenge: redeem it and record the certificate issued.
func (h *harness) installProfile(t *testing.T, data []byte, enrollmentID, bearer string) *portalDevice {
	t.Helper()
	parsed, m := h.parseProfile(t, data)
	var scep *profile.SCEP
	for _, pl := range parsed.Profile.Payloads {
		if s, ok := pl.(*profile.SCEP); ok {
			scep = s
		}
	}
	if scep == nil || scep.Challenge == "" {
		t.Fatal("profile has no SCEP payload with a challenge")
	}
	ctx := context.Background()
	e, err := h.svc.RedeemChallenge(ctx, enroll.Meta{Actor: "scep"}, scep.Challenge)
	if err != nil {
		t.Fatalf("redeem challenge: %v", err)
	}
	id := enroll.IssueCert(t, e.ID, h.idCA, false)
	if _, err := h.svc.RecordCertificate(ctx, enroll.Meta{Actor: "scep"}, e.ID, id.Cert.Raw); err != nil {
		t.Fatalf("record certificate: %v", err)
	}
	if _, err := h.svc.RedeemChallenge(ctx, enroll.Meta{Actor: "scep"}, scep.Challenge); err == nil {
		t.Fatal("a SCEP challenge was redeemed twice")
	}
	return &portalDevice{h: h, id: id, enrollmentID: enrollmentID, bearer: bearer, checkInURL: m.CheckInURL, topic: m.Topic}
}

// checkin sends a signed check-in message and returns the HTTP status.
func (d *portalDevice) checkin(t *testing.T, messageType string, extra map[string]any) int {
	t.Helper()
	msg := map[string]any{"MessageType": messageType, "Topic": d.topic, "EnrollmentID": d.enrollmentID}
	for k, v := range extra {
		msg[k] = v
	}
	st, _ := d.put(t, "application/x-apple-aspen-mdm-checkin", msg)
	return st
}

// put sends msg to the MDM server as the device does, signed with its
// identity and with its bearer token, and returns the HTTP status and the
// response body.
func (d *portalDevice) put(t *testing.T, contentType string, msg map[string]any) (int, []byte) {
	t.Helper()
	body, err := plist.Marshal(msg, plist.XMLFormat)
	if err != nil {
		t.Fatal(err)
	}
	sig := enroll.SignCMS(t, body, true, d.id)
	req, _ := http.NewRequest(http.MethodPut, d.checkInURL, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Mdm-Signature", base64.StdEncoding.EncodeToString(sig))
	if d.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+d.bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// wantState fails unless the enrollment is in state want.
func (h *harness) wantState(t testing.TB, id string, want enroll.State) {
	t.Helper()
	e, err := h.svc.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if e.State != want {
		t.Fatalf("enrollment %s is %s, want %s", id, e.State, want)
	}
}

// enrollChecks runs Authenticate, TokenUpdate and CheckOut for d.
func enrollChecks(t *testing.T, h *harness, d *portalDevice, id string) {
	t.Helper()
	if st := d.checkin(t, "Authenticate", map[string]any{"OSVersion": "17.5", "BuildVersion": "21F79", "ProductName": "iPhone15,2"}); st != http.StatusOK {
		t.Fatalf("Authenticate: %d", st)
	}
	h.wantState(t, id, enroll.StateCheckedIn)
	if st := d.checkin(t, "TokenUpdate", map[string]any{"Token": []byte{1, 2, 3, 4}, "PushMagic": "magic"}); st != http.StatusOK {
		t.Fatalf("TokenUpdate: %d", st)
	}
	h.wantState(t, id, enroll.StateEnrolled)
	if st := d.checkin(t, "CheckOut", nil); st != http.StatusOK {
		t.Fatalf("CheckOut: %d", st)
	}
	h.wantState(t, id, enroll.StateRemoved)
}

// portalDownloaded walks a new invitation of jane through the portal in
// browser b and downloads the profile with the link it gets.
func portalDownloaded(t *testing.T, h *harness, b *browser) (*enroll.Invitation, []byte) {
	t.Helper()
	inv := h.invite()
	p := b.submit(portalWalkToTerms(t, b, inv), map[string]string{"accept": "yes"})
	resp, data := portalFetch(t, p.link)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %d", resp.StatusCode)
	}
	return inv, data
}

// portalProfileInstalled walks a new invitation through the portal and
// installs its profile on a device that names itself enrollmentID. It
// returns the browser that took the portal steps too.
func portalProfileInstalled(t *testing.T, h *harness, enrollmentID string) (*enroll.Invitation, *portalDevice, *browser) {
	t.Helper()
	b := h.browser()
	inv, data := portalDownloaded(t, h, b)
	return inv, h.installProfile(t, data, enrollmentID, ""), b
}

func TestFlowProfileBasedCheckIn(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv, dev, b := portalProfileInstalled(t, h, "UE-PROFILE-1")

	// A second user enrolls a second device meanwhile.
	other, otherDev, _ := portalProfileInstalled(t, h, "UE-PROFILE-2")

	// A certificate the CA never issued for an enrollment is refused.
	stranger := *otherDev
	stranger.id = enroll.IssueCert(t, "stranger", h.idCA, false)
	if st := stranger.checkin(t, "Authenticate", nil); st != http.StatusForbidden {
		t.Fatalf("Authenticate with an unbound certificate: %d, want 403", st)
	}

	if st := dev.checkin(t, "Authenticate", map[string]any{"OSVersion": "17.5", "BuildVersion": "21F79", "ProductName": "iPhone15,2"}); st != http.StatusOK {
		t.Fatalf("Authenticate: %d", st)
	}
	// The second device, signing with the certificate issued for the first
	// enrollment, cannot check in: the certificate is bound to the first.
	thief := *dev
	thief.enrollmentID = otherDev.enrollmentID
	if st := thief.checkin(t, "Authenticate", nil); st != http.StatusForbidden {
		t.Fatalf("Authenticate with another enrollment's certificate: %d, want 403", st)
	}
	h.wantState(t, other.EnrollmentID, enroll.StateProfileIssued)
	if st := otherDev.checkin(t, "Authenticate", nil); st != http.StatusOK {
		t.Fatalf("second device with its own certificate: %d", st)
	}
	h.wantState(t, other.EnrollmentID, enroll.StateCheckedIn)

	enrollChecks(t, h, dev, inv.EnrollmentID)
	portalWantStatus(t, b.get(h.srv.URL+"/portal/continue"), http.StatusGone)
}

// portalAccountInstalled runs account-driven enrollment for a new
// invitation of jane up to a device with EnrollmentID enrollmentID that
// installed the profile fetched with its access token.
func portalAccountInstalled(t *testing.T, enrollmentID string) (*harness, *enroll.Invitation, *portalDevice) {
	t.Helper()
	h, inv, _, tok, data := portalAccountServed(t)
	return h, inv, h.installProfile(t, data, enrollmentID, tok)
}

// portalAccountServed runs account-driven enrollment for a new invitation
// of jane up to the profile served with the access token: it returns the
// harness, the invitation, the device's CA, the access token and the
// profile.
func portalAccountServed(t *testing.T) (*harness, *enroll.Invitation, *portalDeviceCA, string, []byte) {
	t.Helper()
	devCA := newPortalDeviceCA(t)
	h := newHarness(t, harnessOptions{deviceRoots: devCA.pool()})
	inv, tok, data := portalAccountServe(t, h, devCA)
	return h, inv, devCA, tok, data
}

// portalAccountServe runs account-driven enrollment for a new invitation
// of jane in h, whose device CA is devCA, up to the profile served with the
// access token it returns.
func portalAccountServe(t *testing.T, h *harness, devCA *portalDeviceCA) (*enroll.Invitation, string, []byte) {
	t.Helper()
	inv := h.invite()
	baseURL, webURL := portalDiscover(t, h, devCA)
	tok := portalAccountWalk(t, h, webURL)
	resp, data := portalPostBaseURL(t, baseURL, devCA.machineInfo(t), tok)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("BaseURL with token: %d", resp.StatusCode)
	}
	return inv, tok, data
}

// portalAccountInstall runs account-driven enrollment for a new invitation
// of jane in h, whose device CA is devCA, up to a device with EnrollmentID
// enrollmentID that installed the profile fetched with its access token.
func portalAccountInstall(t *testing.T, h *harness, devCA *portalDeviceCA, enrollmentID string) (*enroll.Invitation, *portalDevice) {
	t.Helper()
	inv, tok, data := portalAccountServe(t, h, devCA)
	return inv, h.installProfile(t, data, enrollmentID, tok)
}

func TestFlowAccountDrivenCheckIn(t *testing.T) {
	h, inv, dev := portalAccountInstalled(t, "UE-ACCOUNT-1")

	// Without the access token the check-in is refused.
	noToken := *dev
	noToken.bearer = ""
	if st := noToken.checkin(t, "Authenticate", nil); st != http.StatusUnauthorized {
		t.Fatalf("Authenticate without the access token: %d, want 401", st)
	}
	h.wantState(t, inv.EnrollmentID, enroll.StateTokenIssued)
	enrollChecks(t, h, dev, inv.EnrollmentID)
}

func TestFlowAccountDrivenRevokedCheckIn(t *testing.T) {
	h, inv, dev := portalAccountInstalled(t, "UE-ACCOUNT-2")
	if _, err := h.svc.Revoke(context.Background(), enroll.Meta{Actor: "admin"}, inv.EnrollmentID, "left the company"); err != nil {
		t.Fatal(err)
	}
	if st := dev.checkin(t, "Authenticate", nil); st != http.StatusForbidden && st != http.StatusUnauthorized {
		t.Fatalf("Authenticate after revocation: %d, want 401 or 403", st)
	}
	h.wantState(t, inv.EnrollmentID, enroll.StateRevoked)
}
