package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enroll"
)

// reinstallCrashEnv carries the crashSpec of a crash server child.
const reinstallCrashEnv = "ENROLLKIT_REINSTALL_CRASH_CHILD"

// crashAdminToken is the admin token the crash server children share.
const crashAdminToken = "crash-test-admin-token-0123456789"

// crashSpec tells a crash server child where to serve and when to die.
type crashSpec struct {
	Data       string
	Listen     string
	DeviceRoot string
	// Boundary, if set, is the log record at which the child kills
	// itself with SIGKILL.
	Boundary *crashBoundary
}

// crashBoundary names a log record the server writes right after a step
// was committed and before its response is written: the message and,
// optionally, one attribute's value.
type crashBoundary struct {
	Message    string
	Key, Value string
}

// crashHandler is a slog.Handler that kills the process, with SIGKILL, at
// the boundary's record: a crash at exactly that point, with the step
// stored and its answer never sent.
type crashHandler struct {
	slog.Handler
	b crashBoundary
}

func (h *crashHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.b.Message {
		hit := h.b.Key == ""
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == h.b.Key && a.Value.String() == h.b.Value {
				hit = true
			}
			return !hit
		})
		if hit {
			fmt.Fprintln(os.Stdout, "CRASH", h.b.Message)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h *crashHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &crashHandler{Handler: h.Handler.WithAttrs(as), b: h.b}
}

func (h *crashHandler) WithGroup(name string) slog.Handler {
	return &crashHandler{Handler: h.Handler.WithGroup(name), b: h.b}
}

// TestReinstallCrashServer is not a test of its own: TestReinstallAfterCrash
// runs the test binary again with reinstallCrashEnv set, and this function
// then serves the example server on the SQLite database of the data
// directory it names until it is killed.
func TestReinstallCrashServer(t *testing.T) {
	raw := os.Getenv(reinstallCrashEnv)
	if raw == "" {
		t.Skip("runs only as the child of TestReinstallAfterCrash")
	}
	var spec crashSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := parseFlags([]string{"-data", spec.Data, "-listen", spec.Listen, "-device-ca-root", spec.DeviceRoot}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if spec.Boundary != nil {
		h = &crashHandler{Handler: h, b: *spec.Boundary}
	}
	st, err := newStack(context.Background(), cfg, io.Discard, slog.New(h))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(os.Stdout, "READY")
	t.Fatal((&http.Server{Handler: st.Handler()}).Serve(ln))
}

// crashServer is a running crash server child.
type crashServer struct {
	cmd    *exec.Cmd
	url    string
	lines  chan string
	stderr *syncBuffer
	done   chan error
}

// startCrashServer starts a child serving spec and waits until it listens.
func startCrashServer(t *testing.T, spec crashSpec) *crashServer {
	t.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReinstallCrashServer$", "-test.count=1")
	cmd.Env = append(os.Environ(), reinstallCrashEnv+"="+string(raw), "ENROLLKIT_ADMIN_TOKEN="+crashAdminToken)
	cs := &crashServer{cmd: cmd, url: "http://" + spec.Listen, lines: make(chan string, 16), stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = cs.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			cs.lines <- sc.Text()
		}
		close(cs.lines)
	})
	go func() {
		wg.Wait()
		cs.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // this child only
		<-cs.done
		if t.Failed() {
			t.Logf("server %s output:\n%s", spec.Listen, cs.stderr.String())
		}
	})
	for {
		select {
		case line, ok := <-cs.lines:
			if !ok {
				t.Fatalf("server exited before listening:\n%s", cs.stderr.String())
			}
			if line == "READY" {
				return cs
			}
		case <-time.After(time.Minute):
			t.Fatal("server did not start in a minute")
		}
	}
}

// waitCrash waits for the child to kill itself at its boundary.
func (cs *crashServer) waitCrash(t *testing.T, b crashBoundary) {
	t.Helper()
	crashed := false
	for line := range cs.lines {
		crashed = crashed || line == "CRASH "+b.Message
	}
	err := <-cs.done
	cs.done <- err // for the cleanup
	var ee *exec.ExitError
	if !crashed || !errors.As(err, &ee) {
		t.Fatalf("server did not crash at %q: %v", b.Message, err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("server ended with %v, want SIGKILL", err)
	}
}

// admin calls the child's admin API and decodes the answer into out.
func (cs *crashServer) admin(t *testing.T, method, path string, body string, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, cs.url+"/admin"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+crashAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestReinstallAfterCrash kills the example server (SIGKILL, SQLite) at
// each step boundary of both flows, right after the step was stored and
// before its answer left, restarts it on the same data, and lets a device
// install again from scratch: every enrollment ends enrolled, with the new
// device's EnrollmentID.
func TestReinstallAfterCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	deviceCA, rootFile := newDeviceCAFile(t)
	deviceSteps := []struct {
		name  string
		b     crashBoundary
		state enroll.State
	}{
		{"challenge redeemed", crashBoundary{Message: "enroll: identity challenge redeemed"}, ""},
		{"certificate bound", crashBoundary{Message: "enroll: identity certificate recorded"}, ""},
		{"Authenticate accepted", crashBoundary{Message: "enroll: device checked in"}, enroll.StateCheckedIn},
		{"Authenticate stored", crashBoundary{Message: "mdm: check-in", Key: "message_type", Value: "Authenticate"}, enroll.StateCheckedIn},
		{"TokenUpdate stored, not observed", crashBoundary{Message: "mdm: check-in", Key: "message_type", Value: "TokenUpdate"}, enroll.StateCheckedIn},
	}
	type boundary struct {
		name    string
		account bool
		b       crashBoundary
		state   enroll.State // the state the crash leaves; "" means the flow's issued state
	}
	var tests []boundary
	tests = append(tests, boundary{"profile/download", false, crashBoundary{Message: "enroll: profile downloaded"}, ""})
	for _, s := range deviceSteps {
		tests = append(tests, boundary{"profile/" + s.name, false, s.b, s.state})
	}
	tests = append(tests,
		boundary{"account/access token issued", true, crashBoundary{Message: "enroll: access token issued"}, ""},
		boundary{"account/profile fetched", true, crashBoundary{Message: "enroll: account-driven profile served"}, ""})
	for _, s := range deviceSteps {
		tests = append(tests, boundary{"account/" + s.name, true, s.b, s.state})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			pki, _, err := loadOrCreatePKI(filepath.Join(data, pkiDir), []string{"127.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			users, err := openDirectory(filepath.Join(data, usersFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := users.add("alice", "correct horse", "alice@example.com"); err != nil {
				t.Fatal(err)
			}
			spec := crashSpec{Data: data, Listen: freeAddr(t), DeviceRoot: rootFile}
			b := tt.b
			spec.Boundary = &b
			srv := startCrashServer(t, spec)
			var inv invitationOut
			srv.admin(t, "POST", "/invitations", `{"user":"alice"}`, &inv)
			creds := devicesim.Credentials{Username: "alice", Password: "correct horse", Passcode: inv.Passcode}
			install := func(t *testing.T) (*devicesim.Device, error) {
				d, err := devicesim.New(devicesim.Options{
					HTTPClient:        &http.Client{Timeout: time.Minute},
					AllowInsecureURLs: true,
					ProfileRoots:      pki.Roots(),
					DeviceCA:          deviceCA,
				})
				if err != nil {
					t.Fatal(err)
				}
				if tt.account {
					return d, d.EnrollWithAccount(t.Context(), "alice@example.com", srv.url, creds)
				}
				return d, d.EnrollWithInvitation(t.Context(), inv.URL, creds)
			}

			if _, err := install(t); err == nil {
				t.Fatal("the first installation finished: the crash boundary was never reached")
			}
			srv.waitCrash(t, tt.b)

			// The server comes back on the same data; the device
			// starts over from scratch.
			spec.Boundary = nil
			srv = startCrashServer(t, spec)
			var e enrollmentOut
			srv.admin(t, "GET", "/enrollments/"+inv.EnrollmentID, "", &e)
			want := tt.state
			if want == "" {
				want = map[bool]enroll.State{false: enroll.StateProfileIssued, true: enroll.StateTokenIssued}[tt.account]
			}
			if e.State != want {
				t.Fatalf("after the crash the enrollment is %s, want %s", e.State, want)
			}
			d, err := install(t)
			if err != nil {
				t.Fatalf("installing again after the crash: %v", err)
			}
			srv.admin(t, "GET", "/enrollments/"+inv.EnrollmentID, "", &e)
			de, ok := d.Enrollment()
			if !ok || e.State != enroll.StateEnrolled || e.DeviceID != de.EnrollmentID || de.AccountDriven != tt.account {
				t.Fatalf("after installing again: state %s device %q; device enrolled %v as %q (account-driven %v)", e.State, e.DeviceID, ok, de.EnrollmentID, de.AccountDriven)
			}
			// The device is managed: its Idle poll is answered.
			if _, err := d.Poll(t.Context()); err != nil {
				t.Fatalf("poll after installing again: %v", err)
			}
		})
	}
}
