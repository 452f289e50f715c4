package postgres_test

import (
	"bytes"
	"context"
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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"howett.net/plist"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enroll/enrolltest"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/passcode"
	"github.com/enrollkit/enrollkit/profile"
	"github.com/enrollkit/enrollkit/store/postgres"
)

// replica is one complete service stack (enroll + mdm) with its own
// connection pool, as one process behind a load balancer.
type replica struct {
	db  *postgres.DB
	svc *enroll.Service
	mdm *mdm.Service
	srv *httptest.Server
}

// cluster is several replicas over one PostgreSQL schema and the CA that
// issues device identity certificates.
type cluster struct {
	replicas []*replica
	caCert   *x509.Certificate
	caKey    *ecdsa.PrivateKey
	signer   *x509.Certificate
}

var users = map[string]enroll.User{
	"alice": {ID: "u-alice", Name: "Alice", Email: "alice@example.com"},
	"bob":   {ID: "u-bob", Name: "Bob", Email: "bob@example.com"},
	"carol": {ID: "u-carol", Name: "Carol", Email: "carol@example.com"},
	"dave":  {ID: "u-dave", Name: "Dave", Email: "dave@example.com"},
}

const password = "correct horse"

var terms = enroll.Terms{Version: "2026-05", Text: "Example Corp manages work data only."}

type directory struct{}

func (directory) ManagedAppleID(_ context.Context, userID string) (string, error) {
	for name, u := range users {
		if u.ID == userID {
			return name + "@appleid.example.com", nil
		}
	}
	return "", enroll.ErrUnknownUser
}

func (directory) UserID(_ context.Context, maid string) (string, error) {
	name, _ := strings.CutSuffix(maid, "@appleid.example.com")
	if u, ok := users[name]; ok {
		return u.ID, nil
	}
	return "", enroll.ErrUnknownUser
}

func selfSigned(t testing.TB, cn string, ca bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: ca,
		IsCA:                  ca,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// newCluster starts n replicas over one fresh schema.
func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	dsn, schema := postgres.FreshSchema(t)
	c := &cluster{}
	c.caCert, c.caKey = selfSigned(t, "Example Corp device identity CA", true)
	signCert, signKey := selfSigned(t, "Example Corp profile signing", false)
	c.signer = signCert
	signer, err := profile.NewSigner(signKey, []*x509.Certificate{signCert})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		db, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		svc, err := enroll.New(db.Enroll(), enroll.Config{
			Authenticator: enroll.AuthenticatorFunc(func(_ context.Context, username, pw string) (enroll.User, error) {
				u, ok := users[username]
				if !ok || pw != password {
					return enroll.User{}, enroll.ErrBadCredentials
				}
				return u, nil
			}),
			Directory:      directory{},
			PortalURL:      "https://portal.example.com/enroll",
			Terms:          terms,
			PasscodeParams: passcode.Params{Memory: 64, Iterations: 1},
			Profile: enroll.ProfileConfig{
				ServerURL:    "https://mdm.example.com/mdm",
				CheckInURL:   "https://mdm.example.com/checkin",
				Topic:        "com.apple.mgmt.External.0f3a9c52-1b7e-4d1e-9c55-2a1b3c4d5e6f",
				Organization: "Example Corp",
			},
			Signer: signer,
			SCEP:   enroll.SCEPConfig{URL: "https://mdm.example.com/scep"},
		})
		if err != nil {
			t.Fatal(err)
		}
		ms, err := mdm.NewService(db.MDM(), mdm.Config{
			Roots:      []*x509.Certificate{c.caCert},
			CertHeader: "Client-Cert",
			Prechecker: svc,
			Observer:   svc,
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(ms)
		t.Cleanup(srv.Close)
		c.replicas = append(c.replicas, &replica{db: db, svc: svc, mdm: ms, srv: srv})
	}
	return c
}

var meta = enroll.Meta{ClientIP: "198.51.100.7", UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)"}

// at returns replica i modulo the cluster size.
func (c *cluster) at(i int) *replica { return c.replicas[i%len(c.replicas)] }

// consented invites username and walks the enrollment to StateConsented,
// each step on another replica.
func (c *cluster) consented(t *testing.T, username string) *enroll.Invitation {
	t.Helper()
	ctx := context.Background()
	inv, err := c.at(0).svc.CreateInvitation(ctx, enroll.Meta{Actor: "admin"}, users[username])
	if err != nil {
		t.Fatal(err)
	}
	id := inv.EnrollmentID
	steps := []func(s *enroll.Service) error{
		func(s *enroll.Service) error {
			_, err := s.Authenticate(ctx, meta, id, username, password, enroll.OwnershipEmployee)
			return err
		},
		func(s *enroll.Service) error { _, err := s.SubmitPasscode(ctx, meta, id, inv.Passcode); return err },
		func(s *enroll.Service) error { _, err := s.AcknowledgeInfo(ctx, meta, id); return err },
		func(s *enroll.Service) error {
			_, err := s.AcceptTerms(ctx, meta, id, enroll.Consent{Version: terms.Version, Digest: terms.Digest()})
			return err
		},
	}
	for i, step := range steps {
		if err := step(c.at(i + 1).svc); err != nil {
			t.Fatalf("%s step %d: %v", username, i, err)
		}
	}
	return inv
}

// device is an installed profile: the identity certificate the CA issued
// for its SCEP challenge, and the EnrollmentID it checks in with.
type device struct {
	c            *cluster
	cert         []byte
	enrollmentID string
}

// install plays the device and the SCEP server for a downloaded profile.
func (c *cluster) install(t *testing.T, data []byte, enrollmentID string) *device {
	t.Helper()
	ctx := context.Background()
	roots := x509.NewCertPool()
	roots.AddCert(c.signer)
	parsed, err := profile.Parse(data, profile.ParseOptions{Roots: roots, RequireSignature: true})
	if err != nil {
		t.Fatal(err)
	}
	var challenge string
	for _, pl := range parsed.Profile.Payloads {
		if s, ok := pl.(*profile.SCEP); ok {
			challenge = s.Challenge
		}
	}
	e, err := c.at(1).svc.RedeemChallenge(ctx, enroll.Meta{Actor: "scep"}, challenge)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: e.ID},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.caCert, key.Public(), c.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.at(0).svc.RecordCertificate(ctx, enroll.Meta{Actor: "scep"}, e.ID, der); err != nil {
		t.Fatal(err)
	}
	return &device{c: c, cert: der, enrollmentID: enrollmentID}
}

// send PUTs a message to replica r and returns the status and body.
func (d *device) send(t *testing.T, r *replica, contentType string, msg map[string]any) (int, []byte) {
	msg["EnrollmentID"] = d.enrollmentID
	body, err := plist.Marshal(msg, plist.XMLFormat)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	req, _ := http.NewRequest(http.MethodPut, r.srv.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Client-Cert", ":"+base64.StdEncoding.EncodeToString(d.cert)+":")
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// TestReplicas runs two complete service stacks over one database and
// hammers them concurrently: passcode attempts on one enrollment are
// counted exactly, one download link is honoured once, each queued command
// is delivered to exactly one request, and no result is lost.
func TestReplicas(t *testing.T) {
	c := newCluster(t, 2)
	ctx := context.Background()

	t.Run("passcode attempts counted exactly", func(t *testing.T) {
		inv, err := c.at(0).svc.CreateInvitation(ctx, enroll.Meta{Actor: "admin"}, users["alice"])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.at(1).svc.Authenticate(ctx, meta, inv.EnrollmentID, "alice", password, enroll.OwnershipEmployee); err != nil {
			t.Fatal(err)
		}
		const n = 30
		enrolltest.RaceWrongPasscodes(t, n, func(i int) error {
			_, err := c.at(i).svc.SubmitPasscode(ctx, meta, inv.EnrollmentID, "00000000")
			return err
		})
		for _, r := range c.replicas {
			e, err := r.svc.Get(ctx, inv.EnrollmentID)
			if err != nil || e.State != enroll.StateLocked || e.Passcode.Attempts != 5 {
				t.Fatalf("after the race: %+v, %v", e, err)
			}
		}
		trail, err := c.at(0).svc.Audit(ctx, inv.EnrollmentID)
		if err != nil {
			t.Fatal(err)
		}
		var rejected, locks int
		for _, a := range trail {
			switch a.Event {
			case enroll.EventPasscodeRejected:
				rejected++
			case enroll.EventLock:
				locks++
			}
		}
		if rejected != 4 || locks != 1 {
			t.Fatalf("audit has %d rejections and %d locks, want 4 and 1", rejected, locks)
		}
	})

	var devices []*device
	t.Run("download link honoured once", func(t *testing.T) {
		for k, name := range []string{"bob", "carol", "dave"} {
			inv := c.consented(t, name)
			link, err := c.at(k).svc.IssueDownloadLink(ctx, meta, inv.EnrollmentID)
			if err != nil {
				t.Fatal(err)
			}
			const n = 16
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				served [][]byte
				used   int
			)
			for i := range n {
				wg.Go(func() {
					p, err := c.at(i).svc.DownloadProfile(ctx, meta, link.Token)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						served = append(served, p.Data)
					case errors.Is(err, enroll.ErrLinkUsed):
						used++
					default:
						t.Errorf("unexpected outcome: %v", err)
					}
				})
			}
			wg.Wait()
			if len(served) != 1 || used != n-1 {
				t.Fatalf("%s: link served %d times, refused as used %d times; want 1 and %d", name, len(served), used, n-1)
			}
			devices = append(devices, c.install(t, served[0], fmt.Sprintf("UE-REPLICA-%d", k)))
		}
	})
	if len(devices) != 3 {
		t.FailNow()
	}

	t.Run("check-ins on either replica", func(t *testing.T) {
		for k, d := range devices {
			st, _ := d.send(t, c.at(k), mdm.ContentTypeCheckin, map[string]any{
				"MessageType": "Authenticate", "Topic": "com.apple.mgmt.External.0f3a9c52-1b7e-4d1e-9c55-2a1b3c4d5e6f",
				"OSVersion": "17.5", "BuildVersion": "21F79", "ProductName": "iPhone15,2"})
			if st != http.StatusOK {
				t.Fatalf("Authenticate: %d", st)
			}
			st, _ = d.send(t, c.at(k+1), mdm.ContentTypeCheckin, map[string]any{
				"MessageType": "TokenUpdate", "Topic": "com.apple.mgmt.External.0f3a9c52-1b7e-4d1e-9c55-2a1b3c4d5e6f",
				"Token": []byte{byte(k), 2, 3, 4}, "PushMagic": fmt.Sprintf("magic-%d", k)})
			if st != http.StatusOK {
				t.Fatalf("TokenUpdate: %d", st)
			}
		}
		for _, r := range c.replicas {
			all, err := r.svc.List(ctx, enroll.ListOptions{States: []enroll.State{enroll.StateEnrolled}})
			if err != nil || len(all) != len(devices) {
				t.Fatalf("enrolled: %d, %v; want %d", len(all), err, len(devices))
			}
		}
	})

	t.Run("each command delivered once, no result lost", func(t *testing.T) {
		const commands = 20
		queued := make(map[string]int) // UUID → device
		for k, d := range devices {
			for j := range commands {
				uuid := fmt.Sprintf("cmd-%d-%02d", k, j)
				cmd, err := mdm.NewCommand(uuid, map[string]any{"RequestType": "ProfileList"})
				if err != nil {
					t.Fatal(err)
				}
				// Enqueue on alternating replicas.
				if _, err := c.at(j).mdm.Enqueue(ctx, cmd, mdm.EnrollmentID(d.enrollmentID)); err != nil {
					t.Fatal(err)
				}
				queued[uuid] = k
			}
		}
		var (
			mu        sync.Mutex
			delivered = make(map[string]int)
			order     = make(map[int][]string)
			acked     atomic.Int64
			wg        sync.WaitGroup
		)
		deadline := time.Now().Add(30 * time.Second)
		// Several concurrent requests per device, spread over both
		// replicas, as retries and a load balancer would produce.
		for k, d := range devices {
			for w := range 4 {
				wg.Go(func() {
					r := c.at(w)
					msg := map[string]any{"Status": "Idle"}
					for acked.Load() < int64(len(queued)) && time.Now().Before(deadline) {
						st, body := d.send(t, r, mdm.ContentTypeCommand, msg)
						if st != http.StatusOK {
							t.Errorf("device %d: status %d: %s", k, st, body)
							return
						}
						if len(body) == 0 {
							msg = map[string]any{"Status": "Idle"}
							r = c.at(w + int(acked.Load())) // switch replicas now and then
							continue
						}
						cmd, err := mdm.ParseCommand(body)
						if err != nil {
							t.Errorf("device %d: %v", k, err)
							return
						}
						mu.Lock()
						delivered[cmd.UUID]++
						order[k] = append(order[k], cmd.UUID)
						mu.Unlock()
						acked.Add(1)
						msg = map[string]any{"Status": "Acknowledged", "CommandUUID": cmd.UUID}
					}
					if msg["Status"] == "Acknowledged" { // report the last result
						if st, body := d.send(t, r, mdm.ContentTypeCommand, msg); st != http.StatusOK {
							t.Errorf("device %d: last result: status %d: %s", k, st, body)
						} else if len(body) != 0 {
							t.Errorf("device %d: a command was delivered after the queue drained", k)
						}
					}
				})
			}
		}
		wg.Wait()
		for uuid, k := range queued {
			if n := delivered[uuid]; n != 1 {
				t.Errorf("command %s for device %d delivered %d times, want once", uuid, k, n)
			}
		}
		for uuid := range delivered {
			if _, ok := queued[uuid]; !ok {
				t.Errorf("unknown command %s delivered", uuid)
			}
		}
		for k, uuids := range order {
			if !slices.IsSorted(uuids) {
				t.Errorf("device %d got its commands out of order: %v", k, uuids)
			}
		}
		// Every result is stored, visible on every replica.
		for uuid, k := range queued {
			for _, r := range c.replicas {
				res, err := r.mdm.Result(ctx, mdm.EnrollmentID(devices[k].enrollmentID), uuid)
				if err != nil || res.Status != mdm.StatusAcknowledged {
					t.Errorf("result of %s on a replica: %v, %v", uuid, res, err)
				}
			}
		}
	})
}
