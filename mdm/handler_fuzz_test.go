package mdm_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/store/memory"
	"howett.net/plist"
)

// Bits of the mode argument of FuzzServeHTTP. They let the fuzzer reach the
// store with bodies it mutated: a mutated body keeps a valid signature when
// the harness signs it.
const (
	fuzzSignAsA        = 1 << iota // Mdm-Signature: the body signed by enrolled device A
	fuzzSignAsStranger             // Mdm-Signature: signed by a trusted certificate bound to nobody
	fuzzCertHeader                 // the Service trusts the Client-Cert header
	fuzzCertHeaderA                // Client-Cert carries A's certificate
	fuzzNoLength                   // the request does not declare its ContentLength
	fuzzACheckedOut                // state: A has checked out
	fuzzLeased                     // state: A's first command is out with another request
	fuzzNotNow                     // state: A answered its first command NotNow
)

// fuzzWorld is what every FuzzServeHTTP input runs against: a CA, device
// certificates and commands, made once per process (ECDSA keys, so a fuzz
// worker starts quickly).
type fuzzWorld struct {
	now                time.Time
	ca                 *x509.Certificate
	certA, certB, strg *x509.Certificate
	keyA, keyStrg      crypto.Signer
	identA, identB     mdm.Identifiers
	queued             map[mdm.EnrollmentID][]*mdm.Command
}

const (
	fuzzIDA = mdm.EnrollmentID("B7C8D9E0-1F2A-4B3C-9D4E-5F6A7B8C9D0E") // User Enrollment device channel
	fuzzIDB = mdm.EnrollmentID("00008110-000A1B2C3D4E5F60")            // device enrollment
)

var (
	fuzzOnce  sync.Once
	fuzzW     *fuzzWorld
	fuzzWErr  error
	fuzzUUIDs = []string{"cmd-a-1", "cmd-a-2", "cmd-b-1"}
)

func fuzzSetup(t testing.TB) *fuzzWorld {
	t.Helper()
	fuzzOnce.Do(func() { fuzzW, fuzzWErr = newFuzzWorld() })
	if fuzzWErr != nil {
		t.Fatal(fuzzWErr)
	}
	return fuzzW
}

func newFuzzWorld() (*fuzzWorld, error) {
	w := &fuzzWorld{
		now:    time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC),
		identA: mdm.Identifiers{EnrollmentID: string(fuzzIDA)},
		identB: mdm.Identifiers{UDID: string(fuzzIDB)},
		queued: map[mdm.EnrollmentID][]*mdm.Command{},
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Fuzz Device CA"},
		NotBefore: w.now.Add(-time.Hour), NotAfter: w.now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	if w.ca, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	leaf := func(serial int64) (*x509.Certificate, crypto.Signer, error) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "device identity"},
			NotBefore: w.now.Add(-time.Hour), NotAfter: w.now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, w.ca, k.Public(), caKey)
		if err != nil {
			return nil, nil, err
		}
		c, err := x509.ParseCertificate(der)
		return c, k, err
	}
	if w.certA, w.keyA, err = leaf(2); err != nil {
		return nil, err
	}
	if w.certB, _, err = leaf(3); err != nil {
		return nil, err
	}
	if w.strg, w.keyStrg, err = leaf(4); err != nil {
		return nil, err
	}
	for i, uuid := range fuzzUUIDs {
		id := fuzzIDA
		if i == 2 {
			id = fuzzIDB
		}
		c, err := mdm.NewCommand(uuid, map[string]any{"RequestType": "ProfileList"})
		if err != nil {
			return nil, err
		}
		w.queued[id] = append(w.queued[id], c)
	}
	return w, nil
}

// store returns a fresh memory store holding A and B enrolled (certificate
// bound, token set) and their queued commands, in the state the mode's state
// bits choose. It is built the same way every time, so one built for a
// snapshot stands for the state before a request.
func (w *fuzzWorld) store(t testing.TB, mode uint8) *memory.MDMStore {
	t.Helper()
	ctx := context.Background()
	s := memory.NewMDMStore()
	for _, rec := range []*mdm.EnrollmentRecord{
		{ID: fuzzIDA, Type: mdm.UserEnrollmentDevice, Certificate: mdm.FingerprintOf(w.certA.Raw), Topic: topic,
			OSVersion: "18.1", ProductName: "iPhone16,1", Token: []byte{0xde, 0xad, 0xbe, 0xef}, PushMagic: "magic-a",
			Enrolled: true, AuthenticatedAt: w.now.Add(-time.Minute), UpdatedAt: w.now.Add(-time.Minute)},
		{ID: fuzzIDB, Type: mdm.Device, Certificate: mdm.FingerprintOf(w.certB.Raw), Topic: topic,
			Token: []byte{1, 2, 3}, PushMagic: "magic-b", Enrolled: true,
			AuthenticatedAt: w.now.Add(-time.Minute), UpdatedAt: w.now.Add(-time.Minute)},
	} {
		if err := s.PutEnrollment(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	for id, cmds := range w.queued {
		for _, c := range cmds {
			if err := s.Enqueue(ctx, c, []mdm.EnrollmentID{id}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if mode&fuzzACheckedOut != 0 {
		rec, err := s.Enrollment(ctx, fuzzIDA)
		if err != nil {
			t.Fatal(err)
		}
		rec.CheckedOut, rec.Enrolled = true, false
		if err := s.PutEnrollment(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if mode&fuzzNotNow != 0 {
		if err := s.PutResult(ctx, fuzzIDA, &mdm.CommandResult{Status: mdm.StatusNotNow, CommandUUID: "cmd-a-1"}); err != nil {
			t.Fatal(err)
		}
	}
	if mode&fuzzLeased != 0 {
		if _, err := s.NextCommand(ctx, fuzzIDA, w.now.Add(-time.Second), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// pending reports whether uuid is queued for id, delivered or not.
func (w *fuzzWorld) pending(id mdm.EnrollmentID, uuid string) bool {
	return slices.ContainsFunc(w.queued[id], func(c *mdm.Command) bool { return c.UUID == uuid })
}

// storeSnapshot is what a store holds for the enrollments and commands a
// request may touch.
type storeSnapshot struct {
	Records  map[mdm.EnrollmentID]*mdm.EnrollmentRecord // nil: absent
	Bindings map[string]mdm.EnrollmentID                // per certificate; "": unbound
	Results  map[resultAt]*mdm.CommandResult            // nil: absent
	Queues   map[mdm.EnrollmentID][]string              // deliverable commands in order
}

type resultAt struct {
	ID   mdm.EnrollmentID
	UUID string
}

// snapshot reads s for ids and uuids. It drains the queues to list them (a
// queue head leased or marked NotNow shows as missing), so s is useless
// afterwards.
func (w *fuzzWorld) snapshot(t testing.TB, s *memory.MDMStore, ids []mdm.EnrollmentID, uuids []string) *storeSnapshot {
	t.Helper()
	ctx := context.Background()
	snap := &storeSnapshot{
		Records: map[mdm.EnrollmentID]*mdm.EnrollmentRecord{}, Bindings: map[string]mdm.EnrollmentID{},
		Results: map[resultAt]*mdm.CommandResult{}, Queues: map[mdm.EnrollmentID][]string{},
	}
	for _, id := range ids {
		rec, err := s.Enrollment(ctx, id)
		if err != nil && !errors.Is(err, mdm.ErrNotFound) {
			t.Fatal(err)
		}
		snap.Records[id] = rec
		for _, uuid := range uuids {
			res, err := s.Result(ctx, id, uuid)
			if err != nil && !errors.Is(err, mdm.ErrNotFound) {
				t.Fatal(err)
			}
			snap.Results[resultAt{id, uuid}] = res
		}
	}
	for name, c := range map[string]*x509.Certificate{"A": w.certA, "B": w.certB, "stranger": w.strg} {
		id, err := s.EnrollmentByCertificate(ctx, mdm.FingerprintOf(c.Raw))
		if err != nil && !errors.Is(err, mdm.ErrNotFound) {
			t.Fatal(err)
		}
		snap.Bindings[name] = id
	}
	for _, id := range ids {
		q := []string{}
		for range 8 {
			// Lease 0 at the Service's own clock leaves a command as
			// deliverable as it was; the Acknowledged result pops it.
			c, err := s.NextCommand(ctx, id, w.now, 0)
			if errors.Is(err, mdm.ErrQueueEmpty) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			q = append(q, c.UUID)
			if err := s.PutResult(ctx, id, &mdm.CommandResult{Status: mdm.StatusAcknowledged, CommandUUID: c.UUID}); err != nil {
				t.Fatal(err)
			}
		}
		snap.Queues[id] = q
	}
	return snap
}

// fuzzStatuses are the statuses ServeHTTP documents, less 500: the memory
// store and the Responder here never fail, so a 500 would be a bug.
var fuzzStatuses = []int{
	http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
	http.StatusMethodNotAllowed, http.StatusGone, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType,
}

// serveFuzz sends one request built from the fuzz arguments to a Service on a
// fresh store and checks the properties of FuzzServeHTTP.
func serveFuzz(t *testing.T, method, path, ct, sig, certHdr string, mode uint8, body []byte) int {
	w := fuzzSetup(t)
	maid, err := mdm.NewMAIDIssuer(w.keyA, serverUUID)
	if err != nil {
		t.Fatal(err)
	}
	answer := mdm.ResponderFunc(func(ctx context.Context, r *mdm.Request) ([]byte, error) {
		return []byte(`<plist version="1.0"><dict/></plist>`), nil
	})
	opts := mdm.Config{
		Roots:      []*x509.Certificate{w.ca},
		Prechecker: mdm.NoPrechecker,
		Now:        func() time.Time { return w.now },
		// GetToken goes through Tokens, which issues com.apple.maid only.
		Responder: mdm.Responders{
			mdm.MessageGetToken:              mdm.Tokens{mdm.TokenServiceMAID: maid},
			mdm.MessageDeclarativeManagement: answer, mdm.MessageSetBootstrapToken: answer, mdm.MessageGetBootstrapToken: answer,
		},
		Observer: mdm.ObserverFunc(func(ctx context.Context, ev *mdm.Event) error { return nil }),
		// Small limits let the fuzzer reach the size checks.
		MaxCheckinBytes: 4 << 10, MaxCommandBytes: 8 << 10, MaxSignatureBytes: 4 << 10,
	}
	if mode&fuzzCertHeader != 0 {
		opts.CertHeader = "Client-Cert"
	}
	// The path chooses a Prechecker: none (and so no rebinding of
	// certificates), one that approves, or one that refuses with 401 or 403.
	if strings.HasPrefix(path, "/precheck") {
		opts.Prechecker = mdm.PrecheckFunc(func(ctx context.Context, r *mdm.Request) error {
			switch r.HTTP.URL.Path {
			case "/precheck/deny":
				return errors.New("enrollment suspended")
			case "/precheck/reauth":
				return &mdm.RejectError{Status: http.StatusUnauthorized, Challenge: `Bearer realm="mdm"`}
			}
			return nil
		})
	}
	store := w.store(t, mode)
	svc, err := mdm.NewService(store, opts)
	if err != nil {
		t.Fatal(err)
	}

	switch {
	case mode&fuzzSignAsA != 0:
		if sig, err = mdm.Sign(body, w.certA, w.keyA, &mdm.SignOptions{Hash: crypto.SHA1}); err != nil {
			t.Fatal(err)
		}
	case mode&fuzzSignAsStranger != 0:
		if sig, err = mdm.Sign(body, w.strg, w.keyStrg, nil); err != nil {
			t.Fatal(err)
		}
	}
	if mode&fuzzCertHeaderA != 0 {
		certHdr = ":" + base64.StdEncoding.EncodeToString(w.certA.Raw) + ":"
	}
	r := &http.Request{
		Method: method, URL: &url.URL{Path: path}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		Host: "mdm.example.com", RemoteAddr: "192.0.2.1:1234",
	}
	if mode&fuzzNoLength != 0 {
		r.ContentLength = -1
	}
	for k, v := range map[string]string{"Content-Type": ct, "Mdm-Signature": sig, "Client-Cert": certHdr} {
		if v != "" {
			r.Header[k] = []string{v}
		}
	}
	r = r.WithContext(context.Background())

	// The enrollments and commands this request may name.
	ids := []mdm.EnrollmentID{fuzzIDA, fuzzIDB}
	uuids := slices.Clone(fuzzUUIDs)
	var res *mdm.CommandResult
	var reqID mdm.EnrollmentID
	var getToken *mdm.GetToken
	if v, err := mdm.Decode(body); err == nil {
		var ident mdm.Identifiers
		switch m := v.(type) {
		case mdm.Message:
			ident = m.CheckinHeader().Identifiers
			getToken, _ = m.(*mdm.GetToken)
		case *mdm.CommandResult:
			ident, res = m.Identifiers, m
			if !slices.Contains(uuids, m.CommandUUID) {
				uuids = append(uuids, m.CommandUUID)
			}
		}
		if e, err := ident.Resolve(); err == nil {
			reqID = e.ID
			for _, id := range []mdm.EnrollmentID{e.ID, e.ParentID} {
				if id != "" && !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
		}
	}
	before := w.snapshot(t, w.store(t, mode), ids, uuids)

	rec := httptest.NewRecorder()
	svc.ServeHTTP(rec, r)
	code := rec.Code

	if !slices.Contains(fuzzStatuses, code) {
		t.Fatalf("status %d, not one ServeHTTP documents (body %q)", code, rec.Body)
	}
	// A token is issued for com.apple.maid only, and only with a 200.
	if issued := bytes.Contains(rec.Body.Bytes(), []byte("<key>TokenData</key>")); issued &&
		(code != http.StatusOK || getToken == nil || getToken.TokenServiceType != mdm.TokenServiceMAID) {
		t.Fatalf("issued a token with %d for %+v", code, getToken)
	}
	after := w.snapshot(t, store, ids, uuids)
	if code != http.StatusOK {
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("refused with %d, but the store changed:\nbefore %s\nafter  %s", code, dump(before), dump(after))
		}
		return code
	}
	// 200: a result is only ever stored for a command queued for the
	// enrollment that reported it, and only by a command-result body.
	for k, v := range after.Results {
		if reflect.DeepEqual(v, before.Results[k]) {
			continue
		}
		switch {
		case res == nil:
			t.Fatalf("a check-in stored result %s for %s", k.UUID, k.ID)
		case k.ID != reqID || k.UUID != res.CommandUUID:
			t.Fatalf("a result of %s for %s stored result %s for %s", res.CommandUUID, reqID, k.UUID, k.ID)
		case !w.pending(k.ID, k.UUID):
			t.Fatalf("stored result %s for %s, which was not queued for it", k.UUID, k.ID)
		case v == nil || v.Status != res.Status:
			t.Fatalf("result %s for %s: stored %+v, reported %s", k.UUID, k.ID, v, res.Status)
		}
	}
	// A 200 changes no record but the one of the enrollment that spoke, and
	// a result changes none.
	for id, r := range after.Records {
		if !reflect.DeepEqual(r, before.Records[id]) && (res != nil || id != reqID) {
			t.Fatalf("200 from %s changed the record of %s:\nbefore %+v\nafter  %+v", reqID, id, before.Records[id], r)
		}
	}
	if res != nil && !reflect.DeepEqual(before.Bindings, after.Bindings) {
		t.Fatalf("a result moved certificate bindings: %v -> %v", before.Bindings, after.Bindings)
	}
	if res == nil {
		if !reflect.DeepEqual(before.Results, after.Results) || !reflect.DeepEqual(before.Queues, after.Queues) {
			t.Fatalf("a check-in changed the queues or results:\nbefore %s\nafter  %s", dump(before), dump(after))
		}
	} else if res.Status != mdm.StatusIdle && w.pending(reqID, res.CommandUUID) {
		// The other half: a result accepted for a queued command is kept.
		if got := after.Results[resultAt{reqID, res.CommandUUID}]; got == nil || got.Status != res.Status {
			t.Fatalf("200 to %s of %s for %s, stored %+v", res.Status, res.CommandUUID, reqID, got)
		}
	}
	return code
}

func dump(s *storeSnapshot) string {
	var b bytes.Buffer
	for id, r := range s.Records {
		fmt.Fprintf(&b, "\n  record %s: %+v", id, r)
	}
	fmt.Fprintf(&b, "\n  bindings %v\n  queues %v", s.Bindings, s.Queues)
	for k, r := range s.Results {
		if r != nil {
			fmt.Fprintf(&b, "\n  result %s/%s: %s", k.ID, k.UUID, r.Status)
		}
	}
	return b.String()
}

// fuzzSeed is one seed of FuzzServeHTTP and the status it must get.
type fuzzSeed struct {
	name                          string
	method, path, ct, sig, certHd string
	mode                          uint8
	body                          []byte
	want                          int
}

func fuzzSeeds() []fuzzSeed {
	a := &device{ident: mdm.Identifiers{EnrollmentID: string(fuzzIDA)}}
	b := &device{ident: mdm.Identifiers{UDID: string(fuzzIDB)}}
	userA := &device{ident: mdm.Identifiers{EnrollmentID: string(fuzzIDA), EnrollmentUserID: "7A1B2C3D"}}
	ack := a.status(mdm.StatusAcknowledged, "cmd-a-1")
	ackBinary, err := plist.Marshal(map[string]string{"Status": "Acknowledged", "CommandUUID": "cmd-a-1", "EnrollmentID": string(fuzzIDA)}, plist.BinaryFormat)
	if err != nil {
		panic(err)
	}
	ci, cm := mdm.ContentTypeCheckin, mdm.ContentTypeCommand
	return []fuzzSeed{
		{"token-update", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsA, a.tokenUpdate("3q2+7w=="), 200},
		{"re-authenticate", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsA, a.authenticate(), 200},
		{"check-out", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsA, a.checkOut(), 200},
		{"user-channel-token-update", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsA, userA.tokenUpdate("AQI="), 200},
		{"declarative-management", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsA,
			plistDoc(`<key>MessageType</key><string>DeclarativeManagement</string>` + a.idKeys() + `<key>Endpoint</key><string>tokens</string>`), 200},
		{"get-token", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsA,
			plistDoc(`<key>MessageType</key><string>GetToken</string>` + a.idKeys() + `<key>TokenServiceType</key><string>com.apple.maid</string>`), 200},
		{"get-token-unknown-service", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsA,
			plistDoc(`<key>MessageType</key><string>GetToken</string>` + a.idKeys() + `<key>TokenServiceType</key><string>com.apple.watch.pairing</string>`), 400},
		{"get-token-stranger", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsStranger,
			plistDoc(`<key>MessageType</key><string>GetToken</string>` + a.idKeys() + `<key>TokenServiceType</key><string>com.apple.maid</string>`), 403},
		{"user-authenticate", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsA,
			plistDoc(`<key>MessageType</key><string>UserAuthenticate</string>` + userA.idKeys()), 410},
		{"idle", "PUT", "/mdm/server", cm, "", "", fuzzSignAsA, a.status(mdm.StatusIdle, ""), 200},
		{"acknowledged", "PUT", "/mdm/server", cm, "", "", fuzzSignAsA, ack, 200},
		{"not-now", "PUT", "/mdm/server", cm, "", "", fuzzSignAsA | fuzzNoLength, a.status(mdm.StatusNotNow, "cmd-a-1"), 200},
		{"error-second-command", "PUT", "/mdm/server", "", "", "", fuzzSignAsA, a.status(mdm.StatusError, "cmd-a-2"), 200},
		{"result-for-another-devices-command", "PUT", "/mdm/server", cm, "", "", fuzzSignAsA, a.status(mdm.StatusAcknowledged, "cmd-b-1"), 200},
		{"result-in-another-devices-name", "PUT", "/mdm/server", cm, "", "", fuzzSignAsA, b.status(mdm.StatusAcknowledged, "cmd-b-1"), 403},
		{"cert-header", "PUT", "/mdm/server", cm, "", "", fuzzCertHeader | fuzzCertHeaderA, ack, 200},
		{"cert-header-not-trusted", "PUT", "/mdm/server", cm, "", "", fuzzCertHeaderA, ack, 401},
		{"cert-header-garbage", "PUT", "/mdm/server", cm, "", ":AAAA:", fuzzCertHeader, ack, 401},
		{"stranger", "PUT", "/mdm/server", cm, "", "", fuzzSignAsStranger, ack, 403},
		{"unsigned", "PUT", "/mdm/server", cm, "", "", 0, ack, 401},
		{"bad-signature", "PUT", "/mdm/server", cm, "MIAGCSqGSIb3DQEHAqCAMIACAQE=", "", 0, ack, 401},
		{"get", "GET", "/mdm/server", cm, "", "", fuzzSignAsA, ack, 405},
		{"foreign-content-type", "PUT", "/mdm/server", "text/plain", "", "", fuzzSignAsA, ack, 415},
		{"bad-content-type", "PUT", "/mdm/server", "application/x-apple-aspen-mdm; =", "", "", fuzzSignAsA, ack, 415},
		{"result-as-checkin", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsA, ack, 400},
		{"truncated", "PUT", "/mdm/server", cm, "", "", fuzzSignAsA, ack[:len(ack)/2], 400},
		{"unknown-status", "PUT", "/mdm/server", cm, "", "", fuzzSignAsA, a.status("Maybe", "cmd-a-1"), 400},
		{"unknown-enrollment", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsA,
			(&device{ident: mdm.Identifiers{EnrollmentID: "NOBODY"}}).tokenUpdate("AQI="), 403},
		{"acknowledged-binary", "PUT", "/mdm/server", cm, "", "", fuzzSignAsA, ackBinary, 200},
		{"acknowledged-while-leased", "PUT", "/mdm/server", cm, "", "", fuzzSignAsA | fuzzLeased, ack, 200},
		{"idle-while-leased", "PUT", "/mdm/server", cm, "", "", fuzzSignAsA | fuzzLeased, a.status(mdm.StatusIdle, ""), 200},
		{"idle-after-not-now", "PUT", "/mdm/server", cm, "", "", fuzzSignAsA | fuzzNotNow, a.status(mdm.StatusIdle, ""), 200},
		{"idle-checked-out", "PUT", "/mdm/server", cm, "", "", fuzzSignAsA | fuzzACheckedOut, a.status(mdm.StatusIdle, ""), 404},
		{"token-update-checked-out", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsA | fuzzACheckedOut, a.tokenUpdate("AQI="), 404},
		{"authenticate-after-check-out", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsA | fuzzACheckedOut, a.authenticate(), 200},
		{"precheck-approves", "PUT", "/precheck", cm, "", "", fuzzSignAsA, ack, 200},
		{"precheck-denies", "PUT", "/precheck/deny", cm, "", "", fuzzSignAsA, ack, 403},
		{"precheck-asks-to-authenticate", "PUT", "/precheck/reauth", ci, "", "", fuzzSignAsA, a.tokenUpdate("AQI="), 401},
		{"stranger-authenticates-as-a", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsStranger, a.authenticate(), 403},
		{"stranger-rebinds-a-with-precheck", "PUT", "/precheck", ci, "", "", fuzzSignAsStranger, a.authenticate(), 200},
		{"stranger-enrolls", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsStranger,
			(&device{ident: mdm.Identifiers{UDID: "NEW-DEVICE"}}).authenticate(), 200},
		{"a-authenticates-as-b", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsA, b.authenticate(), 403},
		// Real devices' bodies (testdata/captures).
		{"captured-user-enrollment-authenticate", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsStranger,
			capturedBody("fleet-docs/Authenticate.ue.plist"), 200},
		{"captured-token-update-of-no-enrollment", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsStranger,
			capturedBody("nanomdm/TokenUpdate.1.plist"), 404},
		{"captured-error-result", "PUT", "/mdm/server", cm, "", "", fuzzSignAsStranger,
			capturedBody("nanocmd/resp-error.plist"), 404},
		// Identity before decoding, and the decoder's cost bound.
		{"malformed-unsigned", "PUT", "/mdm/server", cm, "", "", 0, ack[:len(ack)/2], 401},
		// An identity the CA issued, bound to no enrollment: decoded.
		{"malformed-unbound-identity", "PUT", "/mdm/server", cm, "", "", fuzzSignAsStranger, ack[:len(ack)/2], 400},
		{"costly-xml", "PUT", "/mdm/server", cm, "", "", fuzzSignAsA, hostileFlatDicts(a, 6<<10), 400},
		{"costly-xml-unsigned", "PUT", "/mdm/server", cm, "", "", 0, hostileFlatDicts(a, 6<<10), 401},
		{"costly-xml-array", "PUT", "/mdm/server", cm, "", "", fuzzSignAsA,
			plistDoc(`<key>Status</key><string>Idle</string>` + a.idKeys() + `<key>Pad</key><array>` + strings.Repeat(`<dict><key>a</key><true/></dict>`, 200) + `</array>`), 400},
		{"costly-binary", "PUT", "/mdm/server", cm, "", "", fuzzSignAsA | fuzzNoLength, hostileBinary(a, 6<<10, true), 400},
		{"oversize", "PUT", "/mdm/checkin", ci, "", "", fuzzSignAsA,
			plistDoc(`<key>MessageType</key><string>TokenUpdate</string>` + a.idKeys() + `<key>Pad</key><string>` + string(bytes.Repeat([]byte("x"), 5<<10)) + `</string>`), 413},
	}
}

// capturedBody returns a body from testdata/captures for a fuzz seed.
func capturedBody(file string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "captures", file))
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzServeHTTP drives the whole handler: method, path, Content-Type,
// Mdm-Signature, the proxy certificate header and the body, against a Service
// whose memory store holds two enrolled devices with queued commands. The
// handler must not panic, must answer a documented status, must change
// nothing when it refuses, must store a result only for a command queued
// for the enrollment that reports it, and with a 200 must change no record
// but that of the enrollment that spoke.
func FuzzServeHTTP(f *testing.F) {
	fuzzSetup(f)
	for _, s := range fuzzSeeds() {
		f.Add(s.method, s.path, s.ct, s.sig, s.certHd, s.mode, s.body)
	}
	f.Fuzz(func(t *testing.T, method, path, ct, sig, certHdr string, mode uint8, body []byte) {
		serveFuzz(t, method, path, ct, sig, certHdr, mode, body)
	})
}

// TestServeHTTPFuzzSeeds pins the status of every seed, so the seeds keep
// reaching the code they were written for.
func TestServeHTTPFuzzSeeds(t *testing.T) {
	for _, s := range fuzzSeeds() {
		t.Run(s.name, func(t *testing.T) {
			if got := serveFuzz(t, s.method, s.path, s.ct, s.sig, s.certHd, s.mode, s.body); got != s.want {
				t.Fatalf("status %d, want %d", got, s.want)
			}
		})
	}
}

// TestFuzzSnapshotSeesChanges proves that the snapshot FuzzServeHTTP compares
// notices each kind of change a request could make to the store.
func TestFuzzSnapshotSeesChanges(t *testing.T) {
	w := fuzzSetup(t)
	ctx := context.Background()
	ids := []mdm.EnrollmentID{fuzzIDA, fuzzIDB, "NEW"}
	uuids := slices.Clone(fuzzUUIDs)
	for _, tc := range []struct {
		name   string
		change func(s *memory.MDMStore) error
	}{
		{"lease head", func(s *memory.MDMStore) error {
			_, err := s.NextCommand(ctx, fuzzIDA, w.now, time.Minute)
			return err
		}},
		{"not-now on second command", func(s *memory.MDMStore) error {
			return s.PutResult(ctx, fuzzIDA, &mdm.CommandResult{Status: mdm.StatusNotNow, CommandUUID: "cmd-a-2"})
		}},
		{"result", func(s *memory.MDMStore) error {
			return s.PutResult(ctx, fuzzIDB, &mdm.CommandResult{Status: mdm.StatusError, CommandUUID: "cmd-b-1"})
		}},
		{"token", func(s *memory.MDMStore) error {
			return s.MarkTokenDead(ctx, fuzzIDA, []byte{0xde, 0xad, 0xbe, 0xef})
		}},
		{"new enrollment", func(s *memory.MDMStore) error {
			return s.PutEnrollment(ctx, &mdm.EnrollmentRecord{ID: "NEW", Type: mdm.Device})
		}},
		{"rebind", func(s *memory.MDMStore) error {
			return s.PutEnrollment(ctx, &mdm.EnrollmentRecord{ID: fuzzIDB, Type: mdm.Device, Certificate: mdm.FingerprintOf(w.strg.Raw)})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := w.snapshot(t, w.store(t, 0), ids, uuids)
			if again := w.snapshot(t, w.store(t, 0), ids, uuids); !reflect.DeepEqual(before, again) {
				t.Fatalf("two fresh stores differ:%s\n%s", dump(before), dump(again))
			}
			s := w.store(t, 0)
			if err := tc.change(s); err != nil {
				t.Fatal(err)
			}
			if after := w.snapshot(t, s, ids, uuids); reflect.DeepEqual(before, after) {
				t.Fatalf("snapshot missed the change:%s", dump(after))
			}
		})
	}
}
