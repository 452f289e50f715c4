package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/jackc/pgx/v5"
	"howett.net/plist"
)

// nanomdmPkg is the peer's command; its version is the one go.mod pins.
const nanomdmPkg = "github.com/micromdm/nanomdm/cmd/nanomdm"

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// The example server's demo user every device enrolls as.
const (
	benchUser     = "bench"
	benchPassword = "bench-password"
	benchMAID     = "bench@example.com"
	adminToken    = "serverbench-admin-token"
)

// binaries are the servers, built once per test binary.
type binaries struct {
	portal, nanomdm string
	// portalB is a second build of the example server, with the build
	// tags in ENROLLKIT_SERVERBENCH_TAGS_B, or "".
	portalB string
	// schema is nanomdm's PostgreSQL schema, read from its module.
	schema string
}

var (
	buildOnce sync.Once
	built     binaries
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// build compiles the example server (in its own directory, so that it
// builds whether or not examples/ is a module of its own) and nanomdm (as
// a module this one requires), and reads nanomdm's pgsql schema from the
// module cache.
func build(t testing.TB) binaries {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "serverbench-")
		if buildErr != nil {
			return
		}
		repo, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			buildErr = err
			return
		}
		portalDir := filepath.Join(repo, "examples", "portal")
		built.portal = filepath.Join(buildDir, "portal")
		if buildErr = goCmd(portalDir, "build", "-o", built.portal, "-tags", os.Getenv("ENROLLKIT_SERVERBENCH_TAGS"), "."); buildErr != nil {
			return
		}
		if tags, ok := os.LookupEnv("ENROLLKIT_SERVERBENCH_TAGS_B"); ok {
			built.portalB = filepath.Join(buildDir, "portal-b")
			if buildErr = goCmd(portalDir, "build", "-o", built.portalB, "-tags", tags, "."); buildErr != nil {
				return
			}
		}
		built.nanomdm = filepath.Join(buildDir, "nanomdm")
		if buildErr = goCmd(".", "build", "-o", built.nanomdm, nanomdmPkg); buildErr != nil {
			return
		}
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/micromdm/nanomdm").Output()
		if err != nil {
			buildErr = fmt.Errorf("locating nanomdm's module: %w", err)
			return
		}
		schema, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "storage", "pgsql", "schema.sql"))
		if err != nil {
			buildErr = fmt.Errorf("nanomdm's pgsql schema: %w", err)
			return
		}
		built.schema = string(schema)
	})
	if buildErr != nil {
		t.Fatalf("building the servers: %v", buildErr)
	}
	return built
}

func goCmd(dir string, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return nil
}

// process is a running server.
type process struct {
	name string
	cmd  *exec.Cmd
	url  string // http://127.0.0.1:PORT
	log  string // file holding its standard output and error
	done chan struct{}
}

// start runs bin with args (plus -listen on a free port, added by
// listenArgs) and waits until it accepts connections.
func start(t testing.TB, name, bin, logDir string, env []string, listenArgs func(addr string) []string) *process {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &process{name: name, url: "http://" + addr, log: filepath.Join(logDir, name+".log"), done: make(chan struct{})}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, listenArgs(addr)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("%s: %v", name, err)
	}
	go func() { p.cmd.Wait(); logf.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("%s log (tail):\n%s", name, tail(b, 4000))
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("%s exited at start: %s", name, tail(b, 4000))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s", name, addr)
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// cpu is the process's CPU time so far, user plus system, from the
// kernel's accounting.
func (p *process) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after it. utime and stime are fields 14 and 15 of the line, 12 and
	// 13 after the name.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: malformed /proc stat", p.name)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: malformed /proc stat", p.name)
	}
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: /proc stat: %w", p.name, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// signed is one request a device sends: a plist body and its Mdm-Signature.
type signed struct {
	body []byte
	sig  string
}

// device is one enrolled simulated device and the requests it replays.
type device struct {
	enr                     devicesim.Enrollment
	auth, tokenUpdate, idle signed
}

func newDevice(enr devicesim.Enrollment) (*device, error) {
	d := &device{enr: enr}
	msgs := []struct {
		dst *signed
		msg any
	}{
		{&d.auth, map[string]any{
			"MessageType": "Authenticate", "EnrollmentID": enr.EnrollmentID, "Topic": enr.Topic,
			"BuildVersion": "21F90", "OSVersion": "17.5.1", "ProductName": "iPhone15,4",
		}},
		{&d.tokenUpdate, map[string]any{
			"MessageType": "TokenUpdate", "EnrollmentID": enr.EnrollmentID, "Topic": enr.Topic,
			"PushMagic": enr.PushMagic, "Token": enr.Token,
		}},
		{&d.idle, map[string]any{"Status": "Idle", "EnrollmentID": enr.EnrollmentID}},
	}
	for _, m := range msgs {
		body, err := plist.Marshal(m.msg, plist.XMLFormat)
		if err != nil {
			return nil, err
		}
		sig, err := devicesim.MdmSignature(body, enr.Certificate, enr.Key, devicesim.SignatureOptions{})
		if err != nil {
			return nil, err
		}
		*m.dst = signed{body, sig}
	}
	return d, nil
}

// kind is a request the harness replays.
type kind int

const (
	kindIdle kind = iota
	kindTokenUpdate
)

func (k kind) String() string { return [...]string{"Idle", "TokenUpdate"}[k] }

// target is a server as the replay sees it: where check-ins and command
// polls go.
type target struct {
	*process
	checkinURL, commandURL string
}

const (
	checkinType = "application/x-apple-aspen-mdm-checkin"
	commandType = "application/x-apple-aspen-mdm"
)

// send PUTs one signed request and fails unless the server answers 200.
func (tg *target) send(ctx context.Context, c *http.Client, k kind, d *device) error {
	u, ct, s := tg.commandURL, commandType, d.idle
	switch k {
	case kindTokenUpdate:
		u, ct, s = tg.checkinURL, checkinType, d.tokenUpdate
	}
	return put(ctx, c, u, ct, s)
}

func put(ctx context.Context, c *http.Client, u, contentType string, s signed) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(s.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Mdm-Signature", s.sig)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s: %s: %s", u, resp.Status, bytes.TrimSpace(tail(b, 200)))
	}
	if contentType == commandType && len(bytes.TrimSpace(b)) != 0 {
		return fmt.Errorf("PUT %s: Idle answered with a command, want an empty body", u)
	}
	return nil
}

// measurement is what one server spent on one kind of request.
type measurement struct {
	requests int
	cpu      time.Duration
	wall     time.Duration
}

// perRequest is server CPU per request.
func (m measurement) perRequest() time.Duration {
	if m.requests == 0 {
		return 0
	}
	return m.cpu / time.Duration(m.requests)
}

// rate is requests per second of wall time.
func (m measurement) rate() float64 {
	if m.wall <= 0 {
		return 0
	}
	return float64(m.requests) / m.wall.Seconds()
}

// replay sends n requests of kind k, spread over the devices, with
// concurrency requests in flight, and returns the server's CPU and the wall
// time they took.
func replay(ctx context.Context, c *http.Client, tg *target, k kind, devs []*device, n, concurrency int) (measurement, error) {
	before, err := tg.cpu()
	if err != nil {
		return measurement{}, err
	}
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	t0 := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := tg.send(ctx, c, k, devs[i%len(devs)]); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("%s %s: %w", tg.name, k, err) })
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	after, err := tg.cpu()
	if err != nil {
		return measurement{}, err
	}
	if firstErr != nil {
		return measurement{}, firstErr
	}
	return measurement{requests: n, cpu: after - before, wall: wall}, nil
}

// params are the size of a run.
type params struct {
	devices, requests, rounds, concurrency int
	// postgres is the DSN of the database both servers keep their state
	// in; "" means SQLite and nanomdm's filekv.
	postgres string
}

// result is one run: each server's measurements (the example server
// first, nanomdm last).
type result struct {
	backend string
	servers []serverResult
}

// serverResult is what one server spent per kind of request and, for the
// example server, per enrollment (invitation portal, SCEP, Authenticate
// and TokenUpdate).
type serverResult struct {
	name       string
	m          [2]measurement
	enrollment measurement
}

// run starts both servers on one backend, enrolls the devices in both and
// replays Idle polls and TokenUpdates against each, alternating.
func run(t *testing.T, p params) result {
	t.Helper()
	bins := build(t)
	dir := t.TempDir()
	ctx := t.Context()
	res := result{backend: "SQLite vs nanomdm filekv"}

	var ourStore, peerStore []string
	if p.postgres != "" {
		res.backend = "PostgreSQL vs nanomdm pgsql"
		suffix := randomHex(t, 6)
		ourSchema, peerSchema := "serverbench_ours_"+suffix, "serverbench_nanomdm_"+suffix
		dropSchemas(t, p.postgres, ourSchema, peerSchema)
		peerDSN := createPeerSchema(t, p.postgres, peerSchema, bins.schema)
		ourStore = []string{"-postgres", p.postgres, "-postgres-schema", ourSchema}
		peerStore = []string{"-storage", "pgsql", "-storage-dsn", peerDSN}
	} else {
		peerStore = []string{"-storage", "filekv", "-storage-dsn", filepath.Join(dir, "nanomdm-db")}
	}

	// The example server: a demo user, then the server.
	data := filepath.Join(dir, "portal-data")
	if out, err := exec.Command(bins.portal, "-data", data, "adduser",
		"-user", benchUser, "-password", benchPassword, "-managed-apple-id", benchMAID).CombinedOutput(); err != nil {
		t.Fatalf("portal adduser: %v\n%s", err, out)
	}
	startPortal := func(name, bin string) *process {
		return start(t, name, bin, dir, []string{"ENROLLKIT_ADMIN_TOKEN=" + adminToken}, func(addr string) []string {
			return append([]string{"-data", data, "-listen", addr, "-show-invitations=false"}, ourStore...)
		})
	}
	portals := []*process{startPortal("portal", bins.portal)}
	if bins.portalB != "" {
		// The second build shares the data directory and database, as
		// replicas do, so that the same enrollments are valid in both.
		portals = append(portals, startPortal("portal-b", bins.portalB))
	}
	caPEM := filepath.Join(data, "pki", "ca.pem")
	peer := start(t, "nanomdm", bins.nanomdm, dir, nil, func(addr string) []string {
		return append([]string{"-ca", caPEM, "-listen", addr}, peerStore...)
	})

	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConnsPerHost: p.concurrency * 2, DisableCompression: true,
	}}
	defer client.CloseIdleConnections()

	// Enroll the devices in the example server (shared among its
	// builds), measuring its CPU.
	devs, enrollments := enrollAll(t, ctx, portals, client, caPEM, p)
	var targets []*target
	for i, pr := range portals {
		checkin, err := rebase(devs[0].enr.CheckInURL, pr.url)
		if err != nil {
			t.Fatal(err)
		}
		command, err := rebase(devs[0].enr.ServerURL, pr.url)
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, &target{process: pr, checkinURL: checkin, commandURL: command})
		res.servers = append(res.servers, serverResult{name: pr.name, enrollment: enrollments[i]})
	}
	peerTarget := &target{process: peer, checkinURL: peer.url + "/mdm", commandURL: peer.url + "/mdm"}
	targets = append(targets, peerTarget)
	res.servers = append(res.servers, serverResult{name: peer.name})

	// The same identities enroll in nanomdm: Authenticate, TokenUpdate.
	for _, d := range devs {
		if err := put(ctx, client, peerTarget.checkinURL, checkinType, d.auth); err != nil {
			t.Fatalf("nanomdm Authenticate: %v", err)
		}
		if err := put(ctx, client, peerTarget.checkinURL, checkinType, d.tokenUpdate); err != nil {
			t.Fatalf("nanomdm TokenUpdate: %v", err)
		}
	}

	// Replay, alternating between the servers within each round.
	for range p.rounds {
		for _, k := range []kind{kindIdle, kindTokenUpdate} {
			for i, tg := range targets {
				m, err := replay(ctx, client, tg, k, devs, p.requests, p.concurrency)
				if err != nil {
					t.Fatal(err)
				}
				acc := &res.servers[i].m[k]
				acc.requests += m.requests
				acc.cpu += m.cpu
				acc.wall += m.wall
			}
		}
	}
	return res
}

// rebase returns u with its scheme and host replaced by those of base.
func rebase(u, base string) (string, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	pb, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	pu.Scheme, pu.Host = pb.Scheme, pb.Host
	return pu.String(), nil
}

// enrollChunk is how many devices enroll in one build of the example
// server before the next build takes its turn.
const enrollChunk = 10

// enrollAll enrolls p.devices simulated devices through invitations, a few
// at a time, taking turns between the builds of the example server in
// chunks, and returns them with the server CPU the enrollments took in
// each build.
func enrollAll(t *testing.T, ctx context.Context, portals []*process, client *http.Client, caPEM string, p params) ([]*device, []measurement) {
	t.Helper()
	roots, err := os.ReadFile(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(roots) {
		t.Fatalf("%s holds no certificate", caPEM)
	}
	devs := make([]*device, 0, p.devices)
	ms := make([]measurement, len(portals))
	for chunk := 0; len(devs) < p.devices; chunk++ {
		pr, m := portals[chunk%len(portals)], &ms[chunk%len(portals)]
		n := min(enrollChunk, p.devices-len(devs))
		invites := make([]invitation, n)
		for i := range invites {
			invites[i] = invite(t, ctx, client, pr.url)
		}
		before, err := pr.cpu()
		if err != nil {
			t.Fatal(err)
		}
		got := make([]*device, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		t0 := time.Now()
		for i := range got {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				got[i], errs[i] = enrollOne(ctx, client, pool, invites[i])
			}()
		}
		wg.Wait()
		wall := time.Since(t0)
		after, err := pr.cpu()
		if err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("enrolling in %s: %v", pr.name, err)
		}
		m.requests += n
		m.cpu += after - before
		m.wall += wall
		devs = append(devs, got...)
	}
	return devs, ms
}

type invitation struct {
	URL      string `json:"url"`
	Passcode string `json:"passcode"`
}

// invite asks the example server's admin API for an invitation.
func invite(t *testing.T, ctx context.Context, c *http.Client, base string) invitation {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/admin/invitations", strings.NewReader(`{"user":"`+benchUser+`"}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var inv invitation
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("invitation: %s: %s", resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&inv); err != nil {
		t.Fatal(err)
	}
	return inv
}

func enrollOne(ctx context.Context, c *http.Client, roots *x509.CertPool, inv invitation) (*device, error) {
	phone, err := devicesim.New(devicesim.Options{HTTPClient: c, ProfileRoots: roots, AllowInsecureURLs: true})
	if err != nil {
		return nil, err
	}
	if err := phone.EnrollWithInvitation(ctx, inv.URL, devicesim.Credentials{
		Username: benchUser, Password: benchPassword, Passcode: inv.Passcode,
	}); err != nil {
		return nil, err
	}
	// The server starts declarative management at enrollment: the device
	// answers that command (and syncs) so that the replayed Idle polls
	// find an empty queue.
	if _, err := phone.Poll(ctx); err != nil {
		return nil, err
	}
	enr, ok := phone.Enrollment()
	if !ok {
		return nil, errors.New("devicesim: not enrolled after enrolling")
	}
	if !enr.SignMessage {
		return nil, errors.New("the profile does not ask for Mdm-Signature; the harness signs every request")
	}
	return newDevice(enr)
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// createPeerSchema creates nanomdm's schema in a PostgreSQL schema of its
// own and returns the DSN that makes it nanomdm's search path.
func createPeerSchema(t *testing.T, dsn, schema, ddl string) string {
	t.Helper()
	peerDSN, err := withParam(dsn, "search_path", schema)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SET search_path TO "+pgx.Identifier{schema}.Sanitize()+";\n"+ddl); err != nil {
		t.Fatalf("nanomdm's schema: %v", err)
	}
	return peerDSN
}

// dropSchemas drops the schemas when the test ends.
func dropSchemas(t *testing.T, dsn string, schemas ...string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("dropping the schemas: %v", err)
			return
		}
		defer conn.Close(ctx)
		for _, s := range schemas {
			if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s}.Sanitize()+" CASCADE"); err != nil {
				t.Errorf("dropping %s: %v", s, err)
			}
		}
	})
}
