package apns

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const rawTopic = "com.apple.mgmt.External.raw"

// rawPKI returns a self-signed server certificate for 127.0.0.1, a pool
// trusting it, and a push certificate.
func rawPKI(tb testing.TB) (server tls.Certificate, roots *x509.CertPool, push tls.Certificate) {
	tb.Helper()
	mk := func(subject pkix.Name, isServer bool) tls.Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(time.Now().UnixNano()),
			Subject:      subject,
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		}
		if isServer {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
			tmpl.BasicConstraintsValid, tmpl.IsCA = true, true
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			tb.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(der)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	}
	server = mk(pkix.Name{CommonName: "raw"}, true)
	roots = x509.NewCertPool()
	roots.AddCert(server.Leaf)
	push = mk(pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidUID, Value: rawTopic}}}, false)
	return server, roots, push
}

// rawServer is an HTTP/2 server written frame by frame, to script what
// net/http's server never does on demand.
type rawServer struct {
	tb    testing.TB
	ln    net.Listener
	serve func(rc *rawConn) // one call per connection
	wg    sync.WaitGroup
	conns int
	mu    sync.Mutex
}

func newRawServer(tb testing.TB, serve func(rc *rawConn)) (*rawServer, *Client) {
	tb.Helper()
	server, roots, push := rawPKI(tb)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{server},
		NextProtos:   []string{"h2"},
		ClientAuth:   tls.RequireAnyClientCert,
	})
	if err != nil {
		tb.Fatal(err)
	}
	s := &rawServer{tb: tb, ln: ln, serve: serve}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			n := s.conns
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer nc.Close()
				rc := &rawConn{tb: tb, nc: nc, n: n, open: map[uint32]bool{}, settings: []http2.Setting{{ID: http2.SettingMaxConcurrentStreams, Val: 100}}}
				rc.fr = http2.NewFramer(nc, nc)
				rc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
				rc.henc = hpack.NewEncoder(&rc.hbuf)
				s.serve(rc)
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	c, err := New(push, &Options{
		BaseURL:    "https://" + ln.Addr().String(),
		RootCAs:    roots,
		MinBackoff: time.Millisecond,
		MaxBackoff: 2 * time.Millisecond,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return s, c
}

// rawConn is the server side of one connection.
type rawConn struct {
	tb       testing.TB
	nc       net.Conn
	n        int // 1 for the first connection
	fr       *http2.Framer
	henc     *hpack.Encoder
	hbuf     bytes.Buffer
	settings []http2.Setting
	open     map[uint32]bool
	received int // DATA bytes
	pings    [][8]byte
}

// rawRequest is one request the server read.
type rawRequest struct {
	id     uint32
	header map[string]string
	body   string
}

// handshake reads the preface and exchanges SETTINGS.
func (rc *rawConn) handshake() bool {
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(rc.nc, preface); err != nil || string(preface) != http2.ClientPreface {
		return false
	}
	rc.fr.WriteSettings(rc.settings...)
	return true
}

// serveListener accepts connections on ln until the test ends, calling
// handle for each from the accepting goroutine; then it closes ln and every
// connection it accepted. It returns the base URL to reach ln.
func serveListener(t *testing.T, ln net.Listener, handle func(net.Conn)) string {
	t.Helper()
	var wg sync.WaitGroup
	var conns []net.Conn // the accepting goroutine's until wg.Wait returns
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, nc)
			handle(nc)
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, nc := range conns {
			nc.Close()
		}
	})
	return "https://" + ln.Addr().String()
}

// first does the handshake and reads the first request. It returns false
// when the connection ends before that.
func (rc *rawConn) first() (rawRequest, bool) {
	if !rc.handshake() {
		return rawRequest{}, false
	}
	return rc.next()
}

// next reads frames until a complete request, acknowledging SETTINGS and
// PINGs on the way. It returns false when the connection ends.
func (rc *rawConn) next() (rawRequest, bool) {
	reqs := map[uint32]*rawRequest{}
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			return rawRequest{}, false
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				rc.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				rc.pings = append(rc.pings, f.Data)
				rc.fr.WritePing(true, f.Data)
			}
		case *http2.MetaHeadersFrame:
			r := &rawRequest{id: f.StreamID, header: map[string]string{}}
			for _, hf := range f.Fields {
				r.header[hf.Name] = hf.Value
			}
			reqs[f.StreamID] = r
			rc.open[f.StreamID] = true
		case *http2.DataFrame:
			rc.received += len(f.Data())
			r := reqs[f.StreamID]
			if r == nil {
				rc.tb.Errorf("DATA on unknown stream %d", f.StreamID)
				continue
			}
			r.body += string(f.Data())
			if f.StreamEnded() {
				return *r, true
			}
		case *http2.RSTStreamFrame:
			delete(rc.open, f.StreamID)
		}
	}
}

// respond answers stream id.
func (rc *rawConn) respond(id uint32, status int, body string) {
	rc.hbuf.Reset()
	rc.henc.WriteField(hpack.HeaderField{Name: ":status", Value: fmt.Sprint(status)})
	rc.henc.WriteField(hpack.HeaderField{Name: "apns-id", Value: fmt.Sprintf("00000000-0000-4000-8000-%012d", id)})
	rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: rc.hbuf.Bytes(), EndHeaders: true, EndStream: body == ""})
	if body != "" {
		// Two frames, to exercise reassembly.
		half := len(body) / 2
		rc.fr.WriteData(id, false, []byte(body[:half]))
		rc.fr.WriteData(id, true, []byte(body[half:]))
	}
	delete(rc.open, id)
}

func rawTargets(n int) []mdm.PushTarget {
	ts := make([]mdm.PushTarget, n)
	for i := range ts {
		ts[i] = mdm.PushTarget{EnrollmentID: fmt.Sprint(i), Token: []byte{byte(i >> 8), byte(i), 0xee}, PushMagic: "magic"}
	}
	return ts
}

func mustSucceed(tb testing.TB, res []mdm.PushResult, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			tb.Errorf("result %d: %v", i, r.Err)
		}
	}
}

func TestConnStreamLimit(t *testing.T) {
	const limit = 3
	var maxOpen int
	_, c := newRawServer(t, func(rc *rawConn) {
		rc.settings = []http2.Setting{{ID: http2.SettingMaxConcurrentStreams, Val: limit}}
		if !rc.handshake() {
			return
		}
		var pending []uint32
		for {
			r, ok := rc.next()
			if !ok {
				return
			}
			maxOpen = max(maxOpen, len(rc.open))
			if len(rc.open) > limit {
				t.Errorf("%d streams open, limit %d", len(rc.open), limit)
			}
			pending = append(pending, r.id)
			if len(pending) == limit { // answer only when the client is at the limit
				for _, id := range pending {
					rc.respond(id, 200, "")
				}
				pending = pending[:0]
			}
		}
	})
	res, err := c.Push(context.Background(), rawTargets(30))
	mustSucceed(t, res, err)
	c.Close()
	if maxOpen != limit {
		t.Errorf("at most %d streams open, want %d", maxOpen, limit)
	}
}

func TestConnRefusedStreamAndMalformedAnswers(t *testing.T) {
	_, c := newRawServer(t, func(rc *rawConn) {
		if !rc.handshake() {
			return
		}
		seen := map[string]int{}
		for {
			r, ok := rc.next()
			if !ok {
				return
			}
			tok := strings.TrimPrefix(r.header[":path"], "/3/device/")
			seen[tok]++
			switch {
			case tok == "0000ee" && seen[tok] == 1:
				rc.fr.WriteRSTStream(r.id, http2.ErrCodeRefusedStream)
				delete(rc.open, r.id)
			case tok == "0001ee":
				rc.hbuf.Reset()
				rc.henc.WriteField(hpack.HeaderField{Name: ":status", Value: "abc"})
				rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: r.id, BlockFragment: rc.hbuf.Bytes(), EndHeaders: true, EndStream: true})
			case tok == "0002ee":
				rc.fr.WriteRSTStream(r.id, http2.ErrCodeInternal)
				delete(rc.open, r.id)
			case tok == "0003ee":
				rc.respond(r.id, 410, `{"reason":"Unregistered","timestamp":1700000000000}`)
			default:
				rc.respond(r.id, 200, "")
			}
		}
	})
	c.maxAttempts = 2
	res, err := c.Push(context.Background(), rawTargets(5))
	if err != nil {
		t.Fatal(err)
	}
	var pe *PushError
	if res[0].Err != nil || res[4].Err != nil {
		t.Errorf("refused then ok: %v; plain: %v", res[0].Err, res[4].Err)
	}
	if !errors.As(res[1].Err, &pe) || !strings.Contains(res[1].Err.Error(), "malformed :status") {
		t.Errorf("malformed status: %v", res[1].Err)
	}
	if !errors.Is(res[2].Err, ErrUnavailable) || !errors.As(res[2].Err, &pe) || pe.Attempts != 2 {
		t.Errorf("reset stream: %v", res[2].Err)
	}
	if !errors.Is(res[3].Err, mdm.ErrPushTokenDead) || !errors.As(res[3].Err, &pe) || pe.Timestamp.UnixMilli() != 1700000000000 {
		t.Errorf("410 in two DATA frames: %v", res[3].Err)
	}
}

func TestConnGoAwayRetriesUnprocessedStreams(t *testing.T) {
	var mu sync.Mutex
	onSecond := map[string]bool{}
	_, c := newRawServer(t, func(rc *rawConn) {
		if !rc.handshake() {
			return
		}
		if rc.n == 1 {
			// Take three requests, process only the first, GOAWAY.
			var reqs []rawRequest
			for len(reqs) < 3 {
				r, ok := rc.next()
				if !ok {
					return
				}
				reqs = append(reqs, r)
			}
			rc.fr.WriteGoAway(reqs[0].id, http2.ErrCodeNo, []byte("maintenance"))
			rc.respond(reqs[0].id, 200, "")
			time.Sleep(10 * time.Millisecond)
			return
		}
		for {
			r, ok := rc.next()
			if !ok {
				return
			}
			mu.Lock()
			onSecond[r.header[":path"]] = true
			mu.Unlock()
			rc.respond(r.id, 200, "")
		}
	})
	c.concurrency = 3
	c.maxAttempts = 1 // GOAWAY retries must not need a second attempt's backoff
	ts := rawTargets(3)
	res, err := c.Push(context.Background(), ts)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			var pe *PushError
			errors.As(r.Err, &pe)
			// maxAttempts 1 leaves unprocessed streams failed; the
			// cause must say GOAWAY and the error must be transient.
			var ga *goAwayError
			if !errors.As(r.Err, &ga) || !pe.Temporary() || ga.debug != "maintenance" {
				t.Errorf("result %d: %v", i, r.Err)
			}
		}
	}
	c.maxAttempts = 3
	res, err = c.Push(context.Background(), ts)
	mustSucceed(t, res, err)
	mu.Lock()
	defer mu.Unlock()
	if len(onSecond) == 0 {
		t.Error("no request reached the second connection")
	}
}

func TestConnFlowControl(t *testing.T) {
	const window = 65535
	_, c := newRawServer(t, func(rc *rawConn) {
		if !rc.handshake() {
			return
		}
		granted := window
		for {
			r, ok := rc.next()
			if !ok {
				return
			}
			if rc.received > granted {
				t.Errorf("client sent %d DATA bytes with a window of %d", rc.received, granted)
			}
			rc.respond(r.id, 200, "")
			if granted-rc.received < 1000 { // let the client run dry first
				rc.fr.WriteWindowUpdate(0, 20000)
				granted += 20000
			}
		}
	})
	c.concurrency = 50
	ts := rawTargets(3000) // about 120 kB of bodies
	for i := range ts {
		ts[i].PushMagic = strings.Repeat("m", 30)
	}
	res, err := c.Push(context.Background(), ts)
	mustSucceed(t, res, err)
}

func TestConnAnswersPingAndSettings(t *testing.T) {
	done := make(chan struct{})
	_, c := newRawServer(t, func(rc *rawConn) {
		r, ok := rc.first()
		if !ok {
			return
		}
		// New settings mid-connection, and a PING, before answering.
		rc.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 15}, http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0})
		rc.fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
		for {
			f, err := rc.fr.ReadFrame()
			if err != nil {
				t.Error(err)
				return
			}
			if p, ok := f.(*http2.PingFrame); ok && p.IsAck() {
				if p.Data != [8]byte{1, 2, 3, 4, 5, 6, 7, 8} {
					t.Errorf("PING ack %v", p.Data)
				}
				break
			}
		}
		rc.respond(r.id, 200, "")
		for {
			r, ok := rc.next()
			if !ok {
				close(done)
				return
			}
			rc.respond(r.id, 200, "")
		}
	})
	res, err := c.Push(context.Background(), rawTargets(1))
	mustSucceed(t, res, err)
	res, err = c.Push(context.Background(), rawTargets(20))
	mustSucceed(t, res, err)
	c.Close()
	<-done
}

func TestConnHealthCheck(t *testing.T) {
	defer func(i, d time.Duration) { pingInterval, pingTimeout = i, d }(pingInterval, pingTimeout)
	pingInterval, pingTimeout = 30*time.Millisecond, 30*time.Millisecond
	pinged := make(chan struct{})
	_, c := newRawServer(t, func(rc *rawConn) {
		if !rc.handshake() {
			return
		}
		// Read everything, answer nothing: a connection gone silent.
		for {
			f, err := rc.fr.ReadFrame()
			if err != nil {
				return
			}
			if p, ok := f.(*http2.PingFrame); ok && !p.IsAck() {
				select {
				case <-pinged:
				default:
					close(pinged)
				}
			}
		}
	})
	c.maxAttempts = 1
	res, err := c.Push(context.Background(), rawTargets(2))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-pinged:
	default:
		t.Error("the client never sent a PING")
	}
	for _, r := range res {
		if !errors.Is(r.Err, ErrUnavailable) || !strings.Contains(r.Err.Error(), "did not answer a PING") {
			t.Errorf("Err = %v", r.Err)
		}
	}
}

func TestConnNotHTTP2(t *testing.T) {
	server, roots, push := rawPKI(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{server}}) // no ALPN
	if err != nil {
		t.Fatal(err)
	}
	url := serveListener(t, ln, func(nc net.Conn) {
		nc.(*tls.Conn).Handshake()
		nc.Close()
	})
	c, err := New(push, &Options{BaseURL: url, RootCAs: roots, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Push(context.Background(), rawTargets(1))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "does not speak HTTP/2") {
		t.Errorf("Err = %v", res[0].Err)
	}
}

func TestConnRequestHeaders(t *testing.T) {
	got := make(chan rawRequest, 1)
	_, c := newRawServer(t, func(rc *rawConn) {
		r, ok := rc.first()
		if !ok {
			return
		}
		got <- r
		rc.respond(r.id, 200, "")
	})
	c.id = func(mdm.PushTarget) string { return "0a1b2c3d-0000-4000-8000-000000000001" }
	tok := []byte{0xde, 0xad, 0xbe, 0xef}
	res, err := c.Push(context.Background(), []mdm.PushTarget{{Token: tok, PushMagic: "m\"agic", Topic: rawTopic}})
	mustSucceed(t, res, err)
	r := <-got
	want := map[string]string{
		":method":         "POST",
		":scheme":         "https",
		":authority":      strings.TrimPrefix(c.sender.(*connSender).authority, ""),
		":path":           "/3/device/" + hex.EncodeToString(tok),
		"content-type":    "application/json",
		"content-length":  fmt.Sprint(len(`{"mdm":"m\"agic"}`)),
		"apns-push-type":  "mdm",
		"apns-topic":      rawTopic,
		"apns-priority":   "10",
		"apns-id":         "0a1b2c3d-0000-4000-8000-000000000001",
		"apns-expiration": r.header["apns-expiration"],
	}
	for k, v := range want {
		if r.header[k] != v {
			t.Errorf("%s: %q, want %q", k, r.header[k], v)
		}
	}
	if len(r.header) != len(want) {
		t.Errorf("headers %v", r.header)
	}
	if r.body != `{"mdm":"m\"agic"}` {
		t.Errorf("body %s", r.body)
	}
	if res[0].ID != "00000000-0000-4000-8000-000000000001" {
		t.Errorf("ID %q", res[0].ID)
	}
}

func TestConnRoundTripWaitsAndCancels(t *testing.T) {
	gotA := make(chan uint32, 1)
	problems := make(chan string, 4)
	_, c := newRawServer(t, func(rc *rawConn) {
		rc.settings = []http2.Setting{{ID: http2.SettingMaxConcurrentStreams, Val: 1}}
		a, ok := rc.first()
		if !ok {
			return
		}
		gotA <- a.id // never answered: the client resets it
		for {
			r, ok := rc.next()
			if !ok {
				return
			}
			if rc.open[a.id] {
				problems <- "a later request arrived before the cancelled stream was reset"
			}
			rc.respond(r.id, 200, "")
		}
	})
	cs := c.sender.(*connSender)
	req := func(b byte) *request {
		return &request{token: []byte{b}, magic: "m", topic: rawTopic, priority: "10", expiration: "0"}
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	ctxB, cancelB := context.WithCancel(context.Background())
	errA, errB := make(chan error, 1), make(chan error, 1)
	go func() { _, err := cs.send(ctxA, req(0xa)); errA <- err }()
	<-gotA
	go func() { _, err := cs.send(ctxB, req(0xb)); errB <- err }()
	// Wait until B waits for the one stream.
	for {
		cs.mu.Lock()
		conn := cs.cur
		cs.mu.Unlock()
		conn.mu.Lock()
		w := conn.waiting
		conn.mu.Unlock()
		if w == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancelB()
	if err := <-errB; !errors.Is(err, context.Canceled) {
		t.Errorf("waiting push: %v", err)
	}
	cancelA()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Errorf("push in flight: %v", err)
	}
	resp, err := cs.send(context.Background(), req(0xc))
	if err != nil || resp.status != 200 {
		t.Errorf("push after the cancellations: %v, %d", err, resp.status)
	}
	c.Close()
	if _, err := cs.send(context.Background(), req(0xd)); !errors.Is(err, ErrClosed) {
		t.Errorf("push after Close: %v", err)
	}
	for {
		select {
		case p := <-problems:
			t.Error(p)
		default:
			return
		}
	}
}

func TestConnDialTimeoutIsTransient(t *testing.T) {
	defer func(d time.Duration) { dialTimeout = d }(dialTimeout)
	dialTimeout = 50 * time.Millisecond
	_, roots, push := rawPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never speaks TLS
	if err != nil {
		t.Fatal(err)
	}
	url := serveListener(t, ln, func(net.Conn) {}) // holds every connection open
	c, err := New(push, &Options{BaseURL: url, RootCAs: roots, MaxAttempts: 2, MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Push(context.Background(), rawTargets(2))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		var pe *PushError
		if !errors.As(r.Err, &pe) || !pe.Temporary() || pe.Attempts != 2 || !strings.Contains(r.Err.Error(), "took longer than") {
			t.Errorf("Err = %v, want a transient timeout after 2 attempts", r.Err)
		}
	}
}

func TestConnHealthCheckWhileIdle(t *testing.T) {
	defer func(i, d time.Duration) { pingInterval, pingTimeout = i, d }(pingInterval, pingTimeout)
	pingInterval, pingTimeout = 30*time.Millisecond, 30*time.Millisecond
	closed := make(chan struct{})
	_, c := newRawServer(t, func(rc *rawConn) {
		r, ok := rc.first()
		if !ok {
			return
		}
		rc.respond(r.id, 200, "")
		// Then fall silent: read on, answer nothing, not even PINGs.
		for {
			if _, err := rc.fr.ReadFrame(); err != nil {
				close(closed)
				return
			}
		}
	})
	res, err := c.Push(context.Background(), rawTargets(1))
	mustSucceed(t, res, err)
	<-closed // the client gave up on the idle connection by itself
	cs := c.sender.(*connSender)
	cs.mu.Lock()
	conn := cs.cur
	cs.mu.Unlock()
	if !conn.dead() {
		t.Error("the silent connection is still in use")
	}
}
