package main

import (
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
)

var testWebhookSecret = []byte("webhook-secret-for-tests-only-0123")

// receiver is a webhook receiver that refuses the first failFirst attempts
// at every event, checks each delivery's signature and idempotency key, and
// keeps the events it acknowledged once each, in order.
type receiver struct {
	t         *testing.T
	failFirst int
	srv       *httptest.Server

	mu       sync.Mutex
	attempts map[string]int // by event ID
	tried    []string       // event IDs in the order attempts arrived
	acked    []Event        // first acknowledged delivery of each event
	bad      []string       // what was wrong with refused deliveries
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	rc := &receiver{t: t, failFirst: failFirst, attempts: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := verifyWebhook(testWebhookSecret, r.Header.Get(signatureHeader), body, time.Now(), time.Minute); err != nil {
		rc.bad = append(rc.bad, err.Error())
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || r.Header.Get(idempotencyHeader) != ev.ID {
		rc.bad = append(rc.bad, fmt.Sprintf("idempotency key %q for event %q (%v)", r.Header.Get(idempotencyHeader), ev.ID, err))
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	rc.tried = append(rc.tried, ev.ID)
	rc.attempts[ev.ID]++
	if rc.attempts[ev.ID] <= rc.failFirst {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	if rc.attempts[ev.ID] == rc.failFirst+1 { // a repeat is acknowledged, not kept twice
		rc.acked = append(rc.acked, ev)
	}
	w.WriteHeader(http.StatusNoContent)
}

// wait waits until ok holds for the acknowledged events.
func (rc *receiver) wait(what string, ok func([]Event) bool) []Event {
	rc.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rc.mu.Lock()
		acked := slices.Clone(rc.acked)
		rc.mu.Unlock()
		if ok(acked) {
			return acked
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("waiting for %s: the receiver acknowledged %d events: %+v", what, len(acked), acked)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWebhookDelivery: every event reaches a receiver that fails the first
// attempts, signed, with its ID as idempotency key, retried with growing
// waits, and in order for each enrollment: an event is not tried before the
// one before it for the same enrollment is acknowledged.
func TestWebhookDelivery(t *testing.T) {
	rc := newReceiver(t, 2)
	w := newWebhook(rc.srv.URL, testWebhookSecret, slog.New(slog.DiscardHandler))
	w.firstRetry = time.Millisecond
	defer w.Close()

	ids := map[string][]string{} // enrollment → event IDs in the order sent
	for i := range 5 {
		for _, e := range []string{"enr-a", "enr-b", "enr-c"} {
			ev := Event{ID: newUUID(), Type: EventStateChanged, Time: time.Now(), EnrollmentID: e,
				StateChange: &StateChange{Event: enroll.Event(fmt.Sprint("step-", i)), To: enroll.StateInvited}}
			ids[e] = append(ids[e], ev.ID)
			w.send(t.Context(), ev)
		}
	}
	acked := rc.wait("15 events", func(a []Event) bool { return len(a) == 15 })

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		t.Fatalf("refused deliveries: %q", rc.bad)
	}
	for id, n := range rc.attempts {
		if n != 3 {
			t.Errorf("event %s was tried %d times, want 3 (two refusals, one acknowledgement)", id, n)
		}
	}
	for e, want := range ids {
		var got, tried []string
		for _, ev := range acked {
			if ev.EnrollmentID == e {
				got = append(got, ev.ID)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: acknowledged in order %q, sent %q", e, got, want)
		}
		for _, id := range rc.tried {
			if slices.Contains(want, id) {
				tried = append(tried, id)
			}
		}
		// Attempts of one enrollment never go back to an earlier event:
		// each is tried only after the one before it was acknowledged.
		for i := 1; i < len(tried); i++ {
			if slices.Index(want, tried[i]) < slices.Index(want, tried[i-1]) {
				t.Fatalf("%s: attempts out of order: %q", e, tried)
			}
		}
	}
}

// TestWebhookBackOff: the wait between attempts doubles up to its cap.
func TestWebhookBackOff(t *testing.T) {
	var (
		mu    sync.Mutex
		times []time.Time
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		times = append(times, time.Now())
		if len(times) < 6 {
			http.Error(w, "down", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	w := newWebhook(srv.URL, testWebhookSecret, slog.New(slog.DiscardHandler))
	w.firstRetry, w.maxRetry = 20*time.Millisecond, 80*time.Millisecond
	defer w.Close()
	w.send(t.Context(), Event{ID: newUUID(), Type: EventCheckedIn, DeviceID: "dev"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(times)
		mu.Unlock()
		if n == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d attempts", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, want := range []time.Duration{20, 40, 80, 80, 80} {
		want *= time.Millisecond
		if got := times[i+1].Sub(times[i]); got < want || got > want+time.Second {
			t.Errorf("wait before attempt %d = %v, want %v", i+2, got, want)
		}
	}
}

// TestWebhookCloseDrains: Close delivers what is pending (as the invite
// command, which exits at once, needs) and takes nothing after.
func TestWebhookCloseDrains(t *testing.T) {
	rc := newReceiver(t, 1)
	w := newWebhook(rc.srv.URL, testWebhookSecret, slog.New(slog.DiscardHandler))
	w.firstRetry = time.Millisecond
	for range 3 {
		w.send(t.Context(), Event{ID: newUUID(), Type: EventStateChanged, EnrollmentID: "enr"})
	}
	w.Close()
	w.send(t.Context(), Event{ID: newUUID(), Type: EventStateChanged, EnrollmentID: "enr"})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.acked) != 3 || len(rc.tried) != 6 {
		t.Fatalf("after Close: %d acknowledged in %d attempts, want 3 in 6", len(rc.acked), len(rc.tried))
	}
}

// TestVerifyWebhook: the receiver's check refuses a wrong secret, a changed
// body, a forged header and a stale timestamp.
func TestVerifyWebhook(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"1"}`)
	good := signWebhook(testWebhookSecret, now, body)
	tests := []struct {
		name   string
		secret []byte
		header string
		body   []byte
		want   error
	}{
		{"good", testWebhookSecret, good, body, nil},
		{"wrong secret", []byte("another-secret-of-some-length"), good, body, errWebhookSignature},
		{"changed body", testWebhookSecret, good, []byte(`{"id":"2"}`), errWebhookSignature},
		{"no header", testWebhookSecret, "", body, errWebhookSignature},
		{"moved timestamp", testWebhookSecret, "t=1800000001," + good[len("t=1800000000,"):], body, errWebhookSignature},
		{"stale", testWebhookSecret, signWebhook(testWebhookSecret, now.Add(-10*time.Minute), body), body, errWebhookStale},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := verifyWebhook(tc.secret, tc.header, tc.body, now, 5*time.Minute); err != tc.want {
				t.Fatalf("verifyWebhook = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestWebhookEndToEnd runs the portal enrollment against a server started
// with -webhook-url and a receiver that refuses every event's first
// delivery: the receiver gets the enrollment's state changes in the order
// of its audit trail, the device's check-ins, its command result and its
// check-out, each event once after dedup by its ID.
func TestWebhookEndToEnd(t *testing.T) {
	rc := newReceiver(t, 1)
	secretFile := filepath.Join(t.TempDir(), "webhook-secret")
	if err := os.WriteFile(secretFile, append(testWebhookSecret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, "-webhook-url", rc.srv.URL, "-webhook-secret-file", secretFile)
	ts.st.webhook.firstRetry = time.Millisecond // before any event is sent
	testProfileBased(t, ts)

	list, err := ts.st.enroll.List(t.Context(), enroll.ListOptions{})
	if err != nil || len(list) != 1 {
		t.Fatalf("enrollments: %d, %v", len(list), err)
	}
	e := list[0]
	trail, err := ts.st.enroll.Audit(t.Context(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	acked := rc.wait("the enrollment's events", func(a []Event) bool {
		n, out := 0, false
		for _, ev := range a {
			if ev.Type == EventStateChanged && ev.EnrollmentID == e.ID {
				n++
			}
			out = out || ev.Type == EventCheckedOut
		}
		return n == len(trail) && out
	})

	var changes []StateChange
	seen := map[string]bool{}
	var checkins []mdm.MessageType
	var results []CommandResult
	for _, ev := range acked {
		if seen[ev.ID] {
			t.Errorf("event %s acknowledged twice", ev.ID)
		}
		seen[ev.ID] = true
		if ev.EnrollmentID != e.ID {
			t.Errorf("event %+v does not name the enrollment %s", ev, e.ID)
		}
		switch ev.Type {
		case EventStateChanged:
			changes = append(changes, *ev.StateChange)
		case EventCheckedIn:
			checkins = append(checkins, ev.CheckIn.MessageType)
			if ev.DeviceID != e.DeviceID {
				t.Errorf("check-in from device %q, the enrollment's is %q", ev.DeviceID, e.DeviceID)
			}
		case EventCommandResult:
			results = append(results, *ev.CommandResult)
		}
	}
	for i, a := range trail {
		if i >= len(changes) || changes[i].Event != a.Event || changes[i].From != a.From || changes[i].To != a.To {
			t.Fatalf("state changes out of the audit trail's order:\n got %+v\nwant %+v", changes, trail)
		}
	}
	if !slices.Contains(checkins, mdm.MessageAuthenticate) || !slices.Contains(checkins, mdm.MessageTokenUpdate) {
		t.Errorf("check-ins: %q", checkins)
	}
	if !slices.ContainsFunc(results, func(r CommandResult) bool { return r.Status == mdm.StatusAcknowledged }) {
		t.Errorf("command results: %+v", results)
	}
	// The device's TokenUpdate is told after the state change it caused.
	last := func(match func(Event) bool) int {
		i := -1
		for j, ev := range acked {
			if match(ev) {
				i = j
			}
		}
		return i
	}
	enrolled := last(func(ev Event) bool { return ev.Type == EventStateChanged && ev.StateChange.To == enroll.StateEnrolled })
	tokenUpdate := last(func(ev Event) bool {
		return ev.Type == EventCheckedIn && ev.CheckIn.MessageType == mdm.MessageTokenUpdate
	})
	if enrolled < 0 || tokenUpdate < enrolled {
		t.Errorf("TokenUpdate check-in (#%d) acknowledged before the move to enrolled (#%d)", tokenUpdate, enrolled)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		t.Errorf("refused deliveries: %q", rc.bad)
	}
}

// Errors of verifyWebhook.
var (
	errWebhookSignature = errors.New("webhook: bad signature")
	errWebhookStale     = errors.New("webhook: timestamp outside the tolerance")
)

// verifyWebhook checks a delivery's signature header as a receiver would:
// the MAC over its timestamp and body, compared in constant time, and a
// timestamp within tolerance of now. It is the receiver's half of
// signWebhook.
func verifyWebhook(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	got, err := hex.DecodeString(sig)
	if err != nil || ts == "" || !hmac.Equal(got, webhookMAC(secret, ts, body)) {
		return errWebhookSignature
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errWebhookSignature
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return errWebhookStale
	}
	return nil
}

// TestWebhookFlags: -webhook-url without a usable secret refuses to start.
func TestWebhookFlags(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("too-short\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no secret file", []string{"-webhook-url", "http://127.0.0.1:9/hook"}},
		{"missing secret file", []string{"-webhook-url", "http://127.0.0.1:9/hook", "-webhook-secret-file", filepath.Join(dir, "none")}},
		{"short secret", []string{"-webhook-url", "http://127.0.0.1:9/hook", "-webhook-secret-file", short}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := parseFlags(append([]string{"-data", filepath.Join(dir, tc.name)}, tc.args...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			st, err := newStack(t.Context(), cfg, nil, slog.New(slog.DiscardHandler))
			if err == nil {
				st.Close()
				t.Fatal("the server started")
			}
			if !strings.Contains(err.Error(), "-webhook-") {
				t.Fatalf("error %q does not name the flag", err)
			}
		})
	}
}
