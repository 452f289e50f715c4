package apns_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/apns"
	"github.com/enrollkit/enrollkit/mdm"
)

// targets returns n push targets with distinct tokens.
func targets(n int) []mdm.PushTarget {
	ts := make([]mdm.PushTarget, n)
	for i := range ts {
		tok := make([]byte, 32)
		tok[0] = byte(i >> 8)
		tok[1] = byte(i)
		tok[31] = 0xab
		ts[i] = mdm.PushTarget{
			EnrollmentID: fmt.Sprintf("enrollment-%d", i),
			Token:        tok,
			PushMagic:    fmt.Sprintf("magic-%d", i),
			Topic:        testTopic,
		}
	}
	return ts
}

// newClient returns a client for the fake server with fast retries.
func newClient(tb testing.TB, p *pki, f *fakeAPNs, opts apns.Options) *apns.Client {
	tb.Helper()
	opts.BaseURL = f.URL()
	opts.RootCAs = p.pool
	if opts.MinBackoff == 0 {
		opts.MinBackoff = time.Millisecond
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 5 * time.Millisecond
	}
	c, err := apns.New(p.pushCert(tb, testTopic), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// settle waits for the goroutine count to come back to at most before, and
// fails with the goroutines' stacks if it does not.
func settle(t *testing.T, before int) {
	t.Helper()
	for range 200 {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	t.Errorf("goroutines: %d, want at most %d\n%s", runtime.NumGoroutine(), before, buf)
}

func TestPushSendsMDMPush(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name       string
		opts       apns.Options
		priority   string
		expiration time.Duration // 0: "0"
		withID     bool
	}{
		{name: "defaults", priority: "10", expiration: 7 * 24 * time.Hour},
		{name: "conserve", opts: apns.Options{Priority: apns.PriorityConserve}, priority: "5", expiration: 7 * 24 * time.Hour},
		{name: "immediate", opts: apns.Options{Priority: apns.PriorityImmediate, Expiration: time.Hour}, priority: "10", expiration: time.Hour},
		{name: "no store", opts: apns.Options{Expiration: -1}, priority: "10"},
		{name: "with id", opts: apns.Options{ID: func(t mdm.PushTarget) string {
			return "11111111-2222-4333-8444-" + hex.EncodeToString(t.Token[:6])
		}}, priority: "10", expiration: 7 * 24 * time.Hour, withID: true},
		{name: "sequential", opts: apns.Options{Concurrency: 1}, priority: "10", expiration: 7 * 24 * time.Hour},
		{name: "host's net/http client", opts: apns.Options{HTTPClient: hostHTTPClient(t, p), Priority: 5}, priority: "5", expiration: 7 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPNs(t, p, nil)
			c := newClient(t, p, f, tt.opts)
			ts := targets(20)
			ts[3].PushMagic = "quote\" back\\slash\n<tag>&é\u2028\x01"
			ts[4].Topic = "" // the client's topic is used
			start := time.Now()
			res, err := c.Push(context.Background(), ts)
			if err != nil {
				t.Fatal(err)
			}
			end := time.Now()
			if len(res) != len(ts) {
				t.Fatalf("%d results for %d targets", len(res), len(ts))
			}
			for i, r := range res {
				if r.EnrollmentID != ts[i].EnrollmentID || r.Err != nil || !strings.HasPrefix(r.ID, "00000000-0000-4000-8000-") {
					t.Errorf("result %d = %+v", i, r)
				}
			}
			f.check(t)
			reqs := f.requests()
			if len(reqs) != len(ts) {
				t.Fatalf("server got %d requests, want %d", len(reqs), len(ts))
			}
			byToken := map[string]mdm.PushTarget{}
			for _, tg := range ts {
				byToken[hex.EncodeToString(tg.Token)] = tg
			}
			for _, r := range reqs {
				tg, ok := byToken[r.token]
				if !ok {
					t.Fatalf("unknown token %s", r.token)
				}
				delete(byToken, r.token)
				wantBody := `{"mdm":"` + tg.PushMagic + `"}`
				if tg.PushMagic == ts[3].PushMagic {
					wantBody = `{"mdm":"quote\" back\\slash\n<tag>&é\u2028\u0001"}`
				}
				if r.body != wantBody {
					t.Errorf("body %s, want %s", r.body, wantBody)
				}
				if r.client != testTopic {
					t.Errorf("client certificate UID %q", r.client)
				}
				h := r.header
				if got := h.Get("apns-push-type"); got != "mdm" {
					t.Errorf("apns-push-type %q", got)
				}
				if got := h.Get("apns-topic"); got != testTopic {
					t.Errorf("apns-topic %q", got)
				}
				if got := h.Get("apns-priority"); got != tt.priority {
					t.Errorf("apns-priority %q, want %q", got, tt.priority)
				}
				exp, err := strconv.ParseInt(h.Get("apns-expiration"), 10, 64)
				if err != nil {
					t.Errorf("apns-expiration %q: %v", h.Get("apns-expiration"), err)
				}
				if tt.expiration == 0 {
					if exp != 0 {
						t.Errorf("apns-expiration %d, want 0", exp)
					}
				} else if lo, hi := start.Add(tt.expiration).Unix(), end.Add(tt.expiration).Unix(); exp < lo || exp > hi {
					t.Errorf("apns-expiration %d, want in [%d, %d]", exp, lo, hi)
				}
				id := h.Get("apns-id")
				if tt.withID != (id != "") || (tt.withID && id != "11111111-2222-4333-8444-"+r.token[:12]) {
					t.Errorf("apns-id %q", id)
				}
			}
		})
	}
}

func TestPushErrorClasses(t *testing.T) {
	p := newPKI(t)
	const maxAttempts = 3
	tests := []struct {
		name     string
		answers  []answer // by attempt; the last repeats
		class    error    // nil: success
		dead     bool
		status   int
		reason   string
		ts       time.Time
		attempts int
	}{
		{name: "ok", answers: []answer{{status: 200}}, attempts: 1},
		{name: "BadDeviceToken", answers: []answer{{400, `{"reason":"BadDeviceToken"}`}}, class: apns.ErrRejected, dead: true, status: 400, reason: "BadDeviceToken", attempts: 1},
		{name: "DeviceTokenNotForTopic", answers: []answer{{400, `{"reason":"DeviceTokenNotForTopic"}`}}, class: apns.ErrRejected, status: 400, reason: "DeviceTokenNotForTopic", attempts: 1},
		{name: "BadTopic", answers: []answer{{400, `{"reason":"BadTopic"}`}}, class: apns.ErrRejected, status: 400, reason: "BadTopic", attempts: 1},
		{name: "Unregistered", answers: []answer{{410, `{"reason":"Unregistered","timestamp":1764000000123}`}}, class: apns.ErrRejected, dead: true, status: 410, reason: "Unregistered", ts: time.UnixMilli(1764000000123).UTC(), attempts: 1},
		{name: "ExpiredToken", answers: []answer{{410, `{"reason":"ExpiredToken","timestamp":1700000000000}`}}, class: apns.ErrRejected, dead: true, status: 410, reason: "ExpiredToken", ts: time.UnixMilli(1700000000000).UTC(), attempts: 1},
		{name: "PayloadTooLarge", answers: []answer{{413, `{"reason":"PayloadTooLarge"}`}}, class: apns.ErrRejected, status: 413, reason: "PayloadTooLarge", attempts: 1},
		{name: "BadCertificate", answers: []answer{{403, `{"reason":"BadCertificate"}`}}, class: apns.ErrCertificate, status: 403, reason: "BadCertificate", attempts: 1},
		{name: "BadCertificateEnvironment", answers: []answer{{403, `{"reason":"BadCertificateEnvironment"}`}}, class: apns.ErrCertificate, status: 403, reason: "BadCertificateEnvironment", attempts: 1},
		{name: "Forbidden", answers: []answer{{403, `{"reason":"Forbidden"}`}}, class: apns.ErrCertificate, status: 403, reason: "Forbidden", attempts: 1},
		{name: "TopicDisallowed", answers: []answer{{403, `{"reason":"TopicDisallowed"}`}}, class: apns.ErrCertificate, status: 403, reason: "TopicDisallowed", attempts: 1},
		{name: "TooManyRequests", answers: []answer{{429, `{"reason":"TooManyRequests"}`}}, class: apns.ErrUnavailable, status: 429, reason: "TooManyRequests", attempts: maxAttempts},
		{name: "ServiceUnavailable", answers: []answer{{503, `{"reason":"ServiceUnavailable"}`}}, class: apns.ErrUnavailable, status: 503, reason: "ServiceUnavailable", attempts: maxAttempts},
		{name: "InternalServerError without body", answers: []answer{{500, ""}}, class: apns.ErrUnavailable, status: 500, attempts: maxAttempts},
		{name: "429 then ok", answers: []answer{{429, `{"reason":"TooManyRequests"}`}, {200, ""}}, attempts: 2},
		{name: "500 503 then ok", answers: []answer{{500, `{"reason":"InternalServerError"}`}, {503, `{"reason":"Shutdown"}`}, {200, ""}}, attempts: 3},
		{name: "503 then gone", answers: []answer{{503, ""}, {410, `{"reason":"Unregistered","timestamp":1}`}}, class: apns.ErrRejected, dead: true, status: 410, reason: "Unregistered", ts: time.UnixMilli(1).UTC(), attempts: 2},
		{name: "garbage body", answers: []answer{{400, `<html>`}}, class: apns.ErrRejected, status: 400, attempts: 1},
	}
	for _, tt := range tests {
		for _, via := range []string{"own connection", "net/http client"} {
			t.Run(tt.name+"/"+via, func(t *testing.T) {
				f := newFakeAPNs(t, p, func(_ string, attempt int) answer {
					return tt.answers[min(attempt, len(tt.answers))-1]
				})
				opts := apns.Options{MaxAttempts: maxAttempts}
				if via == "net/http client" {
					opts.HTTPClient = hostHTTPClient(t, p)
				}
				c := newClient(t, p, f, opts)
				ts := targets(1)
				res, err := c.Push(context.Background(), ts)
				if err != nil {
					t.Fatal(err)
				}
				f.check(t)
				if n := len(f.requests()); n != tt.attempts {
					t.Errorf("server got %d requests, want %d", n, tt.attempts)
				}
				r := res[0]
				if r.EnrollmentID != ts[0].EnrollmentID {
					t.Errorf("EnrollmentID %q", r.EnrollmentID)
				}
				if tt.class == nil {
					if r.Err != nil {
						t.Fatalf("Err = %v", r.Err)
					}
					if r.ID == "" {
						t.Error("no ID")
					}
					return
				}
				var pe *apns.PushError
				if !errors.As(r.Err, &pe) {
					t.Fatalf("Err = %v (%T), want *PushError", r.Err, r.Err)
				}
				for _, class := range []error{apns.ErrRejected, apns.ErrCertificate, apns.ErrUnavailable, apns.ErrInvalidTarget} {
					if got := errors.Is(r.Err, class); got != (class == tt.class) {
						t.Errorf("errors.Is(%v, %v) = %v", r.Err, class, got)
					}
				}
				if got := errors.Is(r.Err, mdm.ErrPushTokenDead); got != tt.dead {
					t.Errorf("errors.Is(err, mdm.ErrPushTokenDead) = %v, want %v", got, tt.dead)
				}
				if r.ID != pe.ID {
					t.Errorf("result ID %q, error ID %q", r.ID, pe.ID)
				}
				if pe.TokenDead() != tt.dead || pe.Temporary() != (tt.class == apns.ErrUnavailable) {
					t.Errorf("TokenDead %v Temporary %v", pe.TokenDead(), pe.Temporary())
				}
				if pe.Status != tt.status || pe.Reason != tt.reason || !pe.Timestamp.Equal(tt.ts) || pe.Attempts != tt.attempts {
					t.Errorf("PushError = %+v, want status %d reason %q timestamp %v attempts %d", pe, tt.status, tt.reason, tt.ts, tt.attempts)
				}
				if pe.ID == "" || !strings.HasPrefix(pe.Error(), "apns: push to ") || !strings.Contains(pe.Error(), strconv.Itoa(tt.status)) {
					t.Errorf("ID %q, Error() %q", pe.ID, pe.Error())
				}
			})
		}
	}
}

func TestPushInvalidTargets(t *testing.T) {
	p := newPKI(t)
	f := newFakeAPNs(t, p, nil)
	c := newClient(t, p, f, apns.Options{ID: func(t mdm.PushTarget) string {
		if t.EnrollmentID == "bad id" {
			return "NOT-A-UUID"
		}
		return ""
	}})
	good := targets(1)[0]
	tests := []struct {
		name string
		edit func(*mdm.PushTarget)
		want string
	}{
		{"no token", func(t *mdm.PushTarget) { t.Token = nil }, "no device token"},
		{"no magic", func(t *mdm.PushTarget) { t.PushMagic = "" }, "no PushMagic"},
		{"other topic", func(t *mdm.PushTarget) { t.Topic = "com.apple.mgmt.External.other" }, "is not the certificate's"},
		{"bad id", func(t *mdm.PushTarget) { t.EnrollmentID = "bad id" }, "not a lowercase UUID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := good
			tt.edit(&tg)
			res, err := c.Push(context.Background(), []mdm.PushTarget{tg})
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(res[0].Err, apns.ErrInvalidTarget) || !strings.Contains(res[0].Err.Error(), tt.want) {
				t.Errorf("Err = %v, want ErrInvalidTarget with %q", res[0].Err, tt.want)
			}
			if errors.Is(res[0].Err, mdm.ErrPushTokenDead) {
				t.Error("an invalid target must not be reported as a dead token")
			}
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("server got %d requests for invalid targets", n)
	}
}

func TestNew(t *testing.T) {
	p := newPKI(t)
	good := p.pushCert(t, testTopic)
	noKey := good
	noKey.PrivateKey = nil
	unparsed := good
	unparsed.Leaf = nil
	tests := []struct {
		name  string
		cert  tls.Certificate
		opts  apns.Options
		topic string // the error's topic when want is ErrTopic
		want  error
		msg   string
	}{
		{name: "ok", cert: good},
		{name: "unparsed leaf", cert: unparsed, opts: apns.Options{BaseURL: "https://127.0.0.1:8443"}},
		{name: "no UID", cert: p.pushCert(t, ""), want: apns.ErrTopic, msg: "no subject UID"},
		{name: "not mgmt", cert: p.pushCert(t, "com.example.app"), topic: "com.example.app", want: apns.ErrTopic, msg: "does not start with"},
		{name: "prefix only", cert: p.pushCert(t, "com.apple.mgmt."), topic: "com.apple.mgmt.", want: apns.ErrTopic},
		{name: "no certificate", cert: tls.Certificate{PrivateKey: good.PrivateKey}, want: apns.ErrTopic},
		{name: "no key", cert: noKey, msg: "no private key"},
		{name: "priority", cert: good, opts: apns.Options{Priority: 7}, msg: "priority 7"},
		{name: "http URL", cert: good, opts: apns.Options{BaseURL: "http://api.push.apple.com"}, msg: "want https://host"},
		{name: "URL with path", cert: good, opts: apns.Options{BaseURL: "https://api.push.apple.com/3/device"}, msg: "want https://host"},
		{name: "bad URL", cert: good, opts: apns.Options{BaseURL: "https://[::1"}, msg: "base URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := apns.New(tt.cert, tt.opts)
			if tt.want == nil && tt.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if c.Topic() != testTopic {
					t.Errorf("Topic() = %q", c.Topic())
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("New succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "apns: ") || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.msg)
			}
			var te *apns.TopicError
			if errors.As(err, &te) && te.Topic != tt.topic {
				t.Errorf("TopicError.Topic = %q, want %q", te.Topic, tt.topic)
			}
		})
	}
}

func TestPushUntrustedServer(t *testing.T) {
	p := newPKI(t)
	f := newFakeAPNs(t, p, nil)
	c, err := apns.New(p.pushCert(t, testTopic), apns.Options{BaseURL: f.URL(), RootCAs: newPKI(t).pool, MaxAttempts: 3, MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Push(context.Background(), targets(1))
	if err != nil {
		t.Fatal(err)
	}
	var pe *apns.PushError
	if !errors.Is(res[0].Err, apns.ErrUnavailable) || !errors.As(res[0].Err, &pe) || pe.Attempts != 1 {
		t.Errorf("Err = %v, want ErrUnavailable after one attempt", res[0].Err)
	}
}

func TestPushConnectionDroppedMidBatch(t *testing.T) {
	p := newPKI(t)
	f := newFakeAPNs(t, p, nil)
	var dropped atomic.Int32
	f.before = func(r *http.Request, n int) {
		if n == 30 || n == 90 {
			dropped.Add(1)
			f.srv.CloseClientConnections()
		}
	}
	c := newClient(t, p, f, apns.Options{Concurrency: 16, MaxAttempts: 10})
	ts := targets(200)
	res, err := c.Push(context.Background(), ts)
	if err != nil {
		t.Fatal(err)
	}
	f.check(t)
	if dropped.Load() != 2 {
		t.Fatalf("dropped %d times", dropped.Load())
	}
	for i, r := range res {
		if r.Err != nil || r.EnrollmentID != ts[i].EnrollmentID {
			t.Errorf("result %d = %+v", i, r)
		}
	}
	if n := len(f.requests()); n <= len(ts) {
		t.Errorf("server got %d requests; the dropped ones should have been sent again", n)
	}
}

func TestPushConnectionLostForGood(t *testing.T) {
	p := newPKI(t)
	f := newFakeAPNs(t, p, nil)
	f.before = func(r *http.Request, n int) { f.srv.CloseClientConnections() }
	c := newClient(t, p, f, apns.Options{MaxAttempts: 3})
	res, err := c.Push(context.Background(), targets(3))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		var pe *apns.PushError
		if !errors.Is(r.Err, apns.ErrUnavailable) || !errors.As(r.Err, &pe) || pe.Attempts != 3 || pe.Err == nil {
			t.Errorf("Err = %#v, want ErrUnavailable after 3 attempts with a cause", r.Err)
		}
	}
}

// handoff routes the connections accepted by one listener to whichever
// server is current, so that a second server can take over the new
// connections while the first one shuts down gracefully (GOAWAY).
type handoff struct {
	raw    net.Listener
	active atomic.Pointer[chanListener]
}

func (h *handoff) route() {
	for {
		c, err := h.raw.Accept()
		if err != nil {
			return
		}
		for {
			l := h.active.Load()
			select {
			case l.conns <- c:
			case <-l.done:
				continue
			}
			break
		}
	}
}

// chanListener accepts the connections handoff gives it.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

func TestPushGoAwayMidBatch(t *testing.T) {
	p := newPKI(t)
	f := unstartedFakeAPNs(t, p, nil)
	h := &handoff{raw: f.srv.Listener}
	first, next := newChanListener(h.raw.Addr()), newChanListener(h.raw.Addr())
	h.active.Store(first)
	routed := make(chan struct{})
	go func() {
		defer close(routed)
		h.route()
	}()
	f.srv.Listener = first
	f.start()
	second := &http.Server{Handler: f.srv.Config.Handler, ErrorLog: f.srv.Config.ErrorLog}
	var once sync.Once
	served := make(chan struct{})
	shut := make(chan struct{})
	f.before = func(r *http.Request, n int) {
		if n != 50 {
			return
		}
		once.Do(func() {
			// New connections go to the second server; the first
			// says GOAWAY to the client and drains.
			h.active.Store(next)
			go func() {
				defer close(served)
				second.Serve(tls.NewListener(next, f.srv.TLS))
			}()
			go func() {
				defer close(shut)
				f.srv.Config.Shutdown(context.Background())
			}()
		})
	}
	t.Cleanup(func() {
		h.raw.Close()
		<-routed
		second.Close()
		<-served
		<-shut
	})
	c := newClient(t, p, f, apns.Options{Concurrency: 32, MaxAttempts: 2})
	ts := targets(300)
	res, err := c.Push(context.Background(), ts)
	if err != nil {
		t.Fatal(err)
	}
	f.check(t)
	for i, r := range res {
		if r.Err != nil || r.EnrollmentID != ts[i].EnrollmentID {
			t.Errorf("result %d = %+v", i, r)
		}
	}
	byServer := map[*http.Server]int{}
	for _, r := range f.requests() {
		byServer[r.server]++
	}
	if byServer[f.srv.Config] < 50 || byServer[second] == 0 {
		t.Errorf("requests by server: first %d, second %d; want the batch to move to the second after GOAWAY",
			byServer[f.srv.Config], byServer[second])
	}
}

func TestPushCancelled(t *testing.T) {
	p := newPKI(t)
	f := newFakeAPNs(t, p, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.before = func(r *http.Request, n int) {
		if n == 5 { // 8 are in flight
			cancel()
		}
		<-r.Context().Done() // never answer; the client must reset the stream
	}
	before := runtime.NumGoroutine()
	c := newClient(t, p, f, apns.Options{Concurrency: 8})
	ts := targets(100)
	res, err := c.Push(ctx, ts)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Push error = %v, want context.Canceled", err)
	}
	if len(res) != len(ts) {
		t.Fatalf("%d results", len(res))
	}
	for i, r := range res {
		if !errors.Is(r.Err, context.Canceled) || !errors.Is(r.Err, apns.ErrUnavailable) || r.EnrollmentID != ts[i].EnrollmentID {
			t.Errorf("result %d = %+v, want a cancelled push", i, r)
		}
	}
	res, err = c.Push(ctx, ts)
	if !errors.Is(err, context.Canceled) || len(res) != len(ts) {
		t.Errorf("Push with a cancelled context: %d results, %v", len(res), err)
	}
	for i, r := range res {
		if !errors.Is(r.Err, context.Canceled) || r.EnrollmentID != ts[i].EnrollmentID {
			t.Errorf("result %d after cancellation = %+v", i, r)
		}
	}
	c.Close()
	settle(t, before) // no client goroutine, and every server handler returned
}

func TestNoGoroutineLeak(t *testing.T) {
	p := newPKI(t)
	f := newFakeAPNs(t, p, func(token string, attempt int) answer {
		switch token[0] {
		case '1':
			return answer{410, `{"reason":"Unregistered","timestamp":1700000000000}`}
		case '2':
			if attempt == 1 {
				return answer{503, ""}
			}
		}
		return answer{status: 200}
	})
	before := runtime.NumGoroutine()
	c := newClient(t, p, f, apns.Options{Concurrency: 20})
	ts := targets(60)
	for i := range ts {
		ts[i].Token[0] = byte(i % 3 << 4)
	}
	for range 3 {
		res, err := c.Push(context.Background(), ts)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if dead := errors.Is(r.Err, mdm.ErrPushTokenDead); dead != (i%3 == 1) || (!dead && r.Err != nil) {
				t.Errorf("result %d: %v", i, r.Err)
			}
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if res, err := c.Push(context.Background(), ts); !errors.Is(err, apns.ErrClosed) || len(res) != len(ts) || !errors.Is(res[0].Err, apns.ErrClosed) {
		t.Errorf("Push after Close: %d results, %v; want one ErrClosed result per target", len(res), err)
	}
	settle(t, before)
}

// TestPushCertificateRefused checks that a push certificate the server does
// not trust fails every push with ErrCertificate at once, without retries:
// with TLS 1.3 the server refuses it after the handshake, with TLS 1.2
// inside it, before any request.
func TestPushCertificateRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxVersion uint16
	}{{"after the handshake", 0}, {"during a TLS 1.2 handshake", tls.VersionTLS12}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPKI(t)
			f := unstartedFakeAPNs(t, p, nil)
			f.srv.TLS.MaxVersion = tc.maxVersion
			f.start()
			other := newPKI(t) // a certificate the server does not trust
			c, err := apns.New(other.pushCert(t, testTopic), apns.Options{BaseURL: f.URL(), RootCAs: p.pool, MaxAttempts: 3, MinBackoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			res, err := c.Push(context.Background(), targets(3))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				var pe *apns.PushError
				if !errors.Is(r.Err, apns.ErrCertificate) || !errors.As(r.Err, &pe) || pe.Attempts != 1 {
					t.Errorf("Err = %v, want ErrCertificate after one attempt", r.Err)
				}
			}
		})
	}
}

// TestPushLogs checks that every push that fails for good is logged once,
// at the level of its class, with stable keys; retries only at Debug.
func TestPushLogs(t *testing.T) {
	p := newPKI(t)
	for _, sender := range []struct {
		name string
		http func() *http.Client
	}{{"own connection", func() *http.Client { return nil }}, {"host's net/http client", func() *http.Client { return hostHTTPClient(t, p) }}} {
		t.Run(sender.name, func(t *testing.T) {
			f := newFakeAPNs(t, p, func(token string, attempt int) answer {
				switch token[3] {
				case '1':
					return answer{403, `{"reason":"BadCertificate"}`}
				case '2':
					return answer{410, `{"reason":"Unregistered","timestamp":1700000000000}`}
				case '3':
					return answer{503, ""}
				}
				if attempt == 1 {
					return answer{503, ""}
				}
				return answer{status: 200}
			})
			var buf bytes.Buffer
			var mu sync.Mutex
			logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
			c := newClient(t, p, f, apns.Options{Logger: logger, MaxAttempts: 2, HTTPClient: sender.http()})
			ts := targets(5)
			ts[4].PushMagic = "" // invalid: never sent
			if _, err := c.Push(context.Background(), ts); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			out := buf.String()
			mu.Unlock()
			for _, want := range []string{
				`level=DEBUG msg="apns: retrying push" enrollment=enrollment-0 attempt=1`,
				`level=ERROR msg="apns: push failed" enrollment=enrollment-1 status=403 reason=BadCertificate attempts=1 err=`,
				`level=DEBUG msg="apns: push failed" enrollment=enrollment-2 status=410 reason=Unregistered attempts=1 err=`,
				`level=WARN msg="apns: push failed" enrollment=enrollment-3 status=503 reason="" attempts=2 err=`,
				`level=DEBUG msg="apns: push failed" enrollment=enrollment-4 status=0 reason="" attempts=0 err=`,
			} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
			for i, want := range []int{0, 1, 1, 1, 1} {
				if got := strings.Count(out, fmt.Sprintf(`msg="apns: push failed" enrollment=enrollment-%d `, i)); got != want {
					t.Errorf("enrollment-%d: %d failure records, want %d:\n%s", i, got, want, out)
				}
			}
		})
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestPushSmallStreamWindow pushes through a real HTTP/2 server that
// announces a 16-byte SETTINGS_INITIAL_WINDOW_SIZE, smaller than any push
// body, and sends WINDOW_UPDATEs per stream as its handler reads: every
// push must arrive, within a deadline.
func TestPushSmallStreamWindow(t *testing.T) {
	p := newPKI(t)
	for _, via := range []string{"own connection", "net/http client"} {
		t.Run(via, func(t *testing.T) {
			f := unstartedFakeAPNs(t, p, nil)
			f.srv.Config.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerStream: 16}
			f.start()
			opts := apns.Options{Concurrency: 8}
			if via == "net/http client" {
				opts.HTTPClient = hostHTTPClient(t, p)
			}
			c := newClient(t, p, f, opts)
			ts := targets(40)
			for i := range ts {
				ts[i].PushMagic = fmt.Sprintf("5fd1e0b5-7d3c-4d2b-a1f4-%012d", i) // a 46-byte body
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := c.Push(ctx, ts)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if r.Err != nil {
					t.Errorf("result %d: %v", i, r.Err)
				}
			}
			f.check(t)
			if n := len(f.requests()); n != len(ts) {
				t.Errorf("server got %d requests, want %d", n, len(ts))
			}
		})
	}
}
