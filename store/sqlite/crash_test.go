package sqlite_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enroll/enrolltest"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/store/sqlite"
)

// crashEnv names the database a crash child writes to.
const crashEnv = "ENROLLKIT_SQLITE_CRASH_CHILD"

// TestCrashChild is not a test of its own: TestCrashRecovery runs the test
// binary again with crashEnv set, and this function then writes until it is
// killed, printing one line per acknowledged (committed) write.
func TestCrashChild(t *testing.T) {
	path, prefix, _ := strings.Cut(os.Getenv(crashEnv), "|")
	if path == "" {
		t.Skip("runs only as the child of TestCrashRecovery")
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	ack := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		// os.Stdout is unbuffered: the line is in the pipe before
		// the next write starts.
		fmt.Fprintf(os.Stdout, "ACK "+format+"\n", args...)
	}
	fail := func(err error) {
		mu.Lock()
		fmt.Fprintln(os.Stdout, "ERR", err)
		os.Exit(2)
	}
	es, ms := db.Enroll(), db.MDM()
	const workers = 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; ; i += workers {
				id := fmt.Sprintf("%s%08d", prefix, i)
				e := enrolltest.Sample(id)
				e.State = enroll.StateInvited
				if err := es.Create(ctx, e, audit(id, "", enroll.StateInvited)); err != nil {
					fail(err)
				}
				ack("create %s", id)
				for _, to := range []enroll.State{enroll.StateAuthenticated, enroll.StatePasscodeVerified} {
					from := e.State
					e.State = to
					if err := es.Update(ctx, e, e.Version, audit(id, from, to)); err != nil {
						fail(err)
					}
					ack("update %s %d", id, e.Version)
				}
				dev := mdm.EnrollmentID("dev-" + id)
				rec := &mdm.EnrollmentRecord{ID: dev, Type: mdm.UserEnrollmentDevice, Token: []byte(id), PushMagic: "pm-" + id}
				if err := ms.PutEnrollment(ctx, rec); err != nil {
					fail(err)
				}
				ack("record %s", dev)
				cmd, err := mdm.NewCommand("cmd-"+id, map[string]any{"RequestType": "ProfileList"})
				if err != nil {
					fail(err)
				}
				if err := ms.Enqueue(ctx, cmd, []mdm.EnrollmentID{dev}); err != nil {
					fail(err)
				}
				ack("enqueue %s %s", dev, cmd.UUID)
			}
		})
	}
	wg.Wait()
}

func audit(id string, from, to enroll.State) enroll.AuditEvent {
	return enroll.AuditEvent{EnrollmentID: id, Time: time.Now(), Event: enroll.EventAuthenticate, From: from, To: to,
		Actor: "user-" + id, ClientIP: "192.0.2.7", UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)"}
}

// TestCrashRecovery kills a writing process with SIGKILL and checks that
// every write it acknowledged survived, that no transaction is half there,
// and that the file passes PRAGMA integrity_check.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	for round := range 3 {
		t.Run(strconv.Itoa(round), func(t *testing.T) {
			acked := crashChild(t, path, fmt.Sprintf("r%d-", round), 150+round*100)
			checkAcked(t, path, acked)
		})
	}
}

// crashChild runs a child writing to path, kills it once it acknowledged
// killAfter writes, and returns every acknowledged line (including those
// still in the pipe at the kill).
func crashChild(t *testing.T, path, prefix string, killAfter int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path+"|"+prefix)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "ACK "); ok {
			acked = append(acked, rest)
		} else if strings.HasPrefix(line, "ERR") {
			t.Errorf("child: %s", line)
		}
		if !killed && len(acked) >= killAfter {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !killed || !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v after %d acknowledged writes, want death by SIGKILL", err, len(acked))
	}
	if len(acked) < killAfter {
		t.Fatalf("only %d acknowledged writes", len(acked))
	}
	return acked
}

func checkAcked(t *testing.T, path string, acked []string) {
	t.Helper()
	ctx := context.Background()

	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var integrity string
	if err := raw.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&integrity); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if integrity != "ok" {
		t.Fatalf("integrity_check after SIGKILL: %s", integrity)
	}

	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	es, ms := db.Enroll(), db.MDM()
	for _, a := range acked {
		f := strings.Fields(a)
		switch f[0] {
		case "create":
			if _, err := es.Get(ctx, f[1]); err != nil {
				t.Errorf("acknowledged %q: %v", a, err)
			}
		case "update":
			e, err := es.Get(ctx, f[1])
			want, _ := strconv.ParseInt(f[2], 10, 64)
			if err != nil || e.Version < want {
				t.Errorf("acknowledged %q: got %v, %v", a, e, err)
			}
		case "record":
			rec, err := ms.Enrollment(ctx, mdm.EnrollmentID(f[1]))
			if err != nil || rec.PushMagic == "" {
				t.Errorf("acknowledged %q: got %v, %v", a, rec, err)
			}
		case "enqueue":
			cmd, err := ms.NextCommand(ctx, mdm.EnrollmentID(f[1]), time.Now(), time.Nanosecond)
			if err != nil || cmd.UUID != f[2] {
				t.Errorf("acknowledged %q: got %v, %v", a, cmd, err)
			}
		default:
			t.Fatalf("unknown line %q", a)
		}
	}
	// No transaction is half there: every stored enrollment has exactly
	// one audit event per version (its Create and each Update).
	all, err := es.List(ctx, enroll.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		events, err := es.Audit(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(events)) != e.Version {
			t.Errorf("enrollment %s at version %d has %d audit events", e.ID, e.Version, len(events))
		}
	}
	t.Logf("%d acknowledged writes survived; %d enrollments stored", len(acked), len(all))
}
