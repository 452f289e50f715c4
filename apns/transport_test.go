package apns

import (
	"bytes"
	"cmp"
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
	"slices"
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

// newRawServer starts a raw server and returns a client for it, made with
// opts and fast retries.
func newRawServer(tb testing.TB, opts Options, serve func(rc *rawConn)) (*rawServer, *Client) {
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
	opts.BaseURL = "https://" + ln.Addr().String()
	opts.RootCAs = roots
	opts.MinBackoff, opts.MaxBackoff = time.Millisecond, 2*time.Millisecond
	c, err := New(push, opts)
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
	reqs     map[uint32]*rawRequest // requests whose body is still coming
	received int                    // DATA bytes
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
	if rc.reqs == nil {
		rc.reqs = map[uint32]*rawRequest{}
	}
	reqs := rc.reqs
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
				delete(reqs, f.StreamID)
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
	_, c := newRawServer(t, Options{}, func(rc *rawConn) {
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
	// More pushes than the server allows streams wait for one; none
	// stalls (golang/go#70809 with the Transport's own pool).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Push(ctx, rawTargets(30))
	mustSucceed(t, res, err)
	c.Close()
	if maxOpen != limit {
		t.Errorf("at most %d streams open, want %d", maxOpen, limit)
	}
}

func TestConnRefusedStreamAndMalformedAnswers(t *testing.T) {
	_, c := newRawServer(t, Options{MaxAttempts: 2}, func(rc *rawConn) {
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
	res, err := c.Push(context.Background(), rawTargets(5))
	if err != nil {
		t.Fatal(err)
	}
	var pe *PushError
	if res[0].Err != nil || res[4].Err != nil {
		t.Errorf("refused then ok: %v; plain: %v", res[0].Err, res[4].Err)
	}
	if !errors.Is(res[1].Err, ErrUnavailable) || !errors.As(res[1].Err, &pe) || !strings.Contains(res[1].Err.Error(), "malformed") {
		t.Errorf("malformed status: %v", res[1].Err)
	}
	if !errors.Is(res[2].Err, ErrUnavailable) || !errors.As(res[2].Err, &pe) || pe.Attempts != 2 {
		t.Errorf("reset stream: %v", res[2].Err)
	}
	if !errors.Is(res[3].Err, mdm.ErrPushTokenDead) || !errors.As(res[3].Err, &pe) || pe.Timestamp.UnixMilli() != 1700000000000 {
		t.Errorf("410 in two DATA frames: %v", res[3].Err)
	}
}

// TestConnGoAwayRetriesUnprocessedStreams checks that streams APNs did not
// process before its GOAWAY are sent again on a new connection at once,
// without spending an attempt.
func TestConnGoAwayRetriesUnprocessedStreams(t *testing.T) {
	var mu sync.Mutex
	onSecond := map[string]bool{}
	_, c := newRawServer(t, Options{Concurrency: 3, MaxAttempts: 1}, func(rc *rawConn) {
		if !rc.handshake() {
			return
		}
		if rc.n == 1 {
			// Take three requests, process only the one on the lowest
			// stream, GOAWAY. Requests may complete out of stream order,
			// and a GOAWAY covers every stream up to its last stream ID.
			var reqs []rawRequest
			for len(reqs) < 3 {
				r, ok := rc.next()
				if !ok {
					return
				}
				reqs = append(reqs, r)
			}
			slices.SortFunc(reqs, func(a, b rawRequest) int { return cmp.Compare(a.id, b.id) })
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
	res, err := c.Push(context.Background(), rawTargets(3))
	mustSucceed(t, res, err)
	mu.Lock()
	defer mu.Unlock()
	if len(onSecond) != 2 {
		t.Errorf("%d requests reached the second connection, want the 2 unprocessed ones", len(onSecond))
	}
}

func TestConnFlowControl(t *testing.T) {
	const window = 65535
	_, c := newRawServer(t, Options{Concurrency: 50}, func(rc *rawConn) {
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
	ts := rawTargets(3000) // about 120 kB of bodies
	for i := range ts {
		ts[i].PushMagic = strings.Repeat("m", 30)
	}
	res, err := c.Push(context.Background(), ts)
	mustSucceed(t, res, err)
}

// TestConnSmallStreamWindow checks that pushes go through a server that
// announces a SETTINGS_INITIAL_WINDOW_SIZE smaller than a push body and
// tops up each stream's window as it reads, without ever overrunning a
// stream's window.
func TestConnSmallStreamWindow(t *testing.T) {
	const window = 16
	_, c := newRawServer(t, Options{Concurrency: 8}, func(rc *rawConn) {
		rc.settings = append(rc.settings, http2.Setting{ID: http2.SettingInitialWindowSize, Val: window})
		if !rc.handshake() {
			return
		}
		acked := false            // the client applied our settings
		avail := map[uint32]int{} // stream windows, for streams opened after that
		for {
			f, err := rc.fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if f.IsAck() {
					acked = true
				} else {
					rc.fr.WriteSettingsAck()
				}
			case *http2.PingFrame:
				if !f.IsAck() {
					rc.fr.WritePing(true, f.Data)
				}
			case *http2.MetaHeadersFrame:
				if acked {
					avail[f.StreamID] = window
				}
			case *http2.DataFrame:
				id, n := f.StreamID, len(f.Data())
				if w, ok := avail[id]; ok {
					if n > w {
						t.Errorf("stream %d: %d bytes of DATA with a window of %d", id, n, w)
					}
					avail[id] = w - n
				}
				if f.StreamEnded() {
					delete(avail, id)
					rc.respond(id, 200, "")
					continue
				}
				if n > 0 { // read: grant as much again, to the stream and the connection
					rc.fr.WriteWindowUpdate(id, uint32(n))
					rc.fr.WriteWindowUpdate(0, uint32(n))
					if _, ok := avail[id]; ok {
						avail[id] += n
					}
				}
			}
		}
	})
	ts := rawTargets(40)
	for i := range ts {
		ts[i].PushMagic = "5fd1e0b5-7d3c-4d2b-a1f4-8e6c0b9d2a7e" // a 46-byte body
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.Push(ctx, ts)
	mustSucceed(t, res, err)
}

func TestConnAnswersPingAndSettings(t *testing.T) {
	done := make(chan struct{})
	_, c := newRawServer(t, Options{}, func(rc *rawConn) {
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

// shortPings makes the client check a quiet connection after 30 ms, until
// the test ends.
func shortPings(t *testing.T) {
	i, d := pingInterval, pingTimeout
	t.Cleanup(func() { pingInterval, pingTimeout = i, d })
	pingInterval, pingTimeout = 30*time.Millisecond, 30*time.Millisecond
}

func TestConnHealthCheck(t *testing.T) {
	shortPings(t)
	pinged := make(chan struct{})
	_, c := newRawServer(t, Options{MaxAttempts: 1}, func(rc *rawConn) {
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
		if !errors.Is(r.Err, ErrUnavailable) || !strings.Contains(r.Err.Error(), "connection lost") {
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
	c, err := New(push, Options{BaseURL: url, RootCAs: roots, MaxAttempts: 1})
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
	s, c := newRawServer(t, Options{ID: func(mdm.PushTarget) string { return "0a1b2c3d-0000-4000-8000-000000000001" }}, func(rc *rawConn) {
		r, ok := rc.first()
		if !ok {
			return
		}
		got <- r
		rc.respond(r.id, 200, "")
	})
	tok := []byte{0xde, 0xad, 0xbe, 0xef}
	res, err := c.Push(context.Background(), []mdm.PushTarget{{Token: tok, PushMagic: "m\"agic", Topic: rawTopic}})
	mustSucceed(t, res, err)
	r := <-got
	want := map[string]string{
		":method":         "POST",
		":scheme":         "https",
		":authority":      s.ln.Addr().String(),
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

// TestConnWaitsAndCancels checks, on a server that allows one stream, that
// a push waiting for the stream and a push in flight both end with their
// context, that the stream in flight is reset before the next push takes
// its place, and that pushes after Close fail with ErrClosed.
func TestConnWaitsAndCancels(t *testing.T) {
	gotA := make(chan uint32, 1)
	problems := make(chan string, 4)
	_, c := newRawServer(t, Options{}, func(rc *rawConn) {
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
	push := func(ctx context.Context, b byte) error {
		res, err := c.Push(ctx, []mdm.PushTarget{{Token: []byte{b}, PushMagic: "m"}})
		if err != nil {
			return err
		}
		return res[0].Err
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	ctxB, cancelB := context.WithCancel(context.Background())
	errA, errB := make(chan error, 1), make(chan error, 1)
	go func() { errA <- push(ctxA, 0xa) }()
	<-gotA
	go func() { errB <- push(ctxB, 0xb) }()
	time.Sleep(20 * time.Millisecond) // B waits for the one stream
	cancelB()
	if err := <-errB; !errors.Is(err, context.Canceled) {
		t.Errorf("waiting push: %v", err)
	}
	cancelA()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Errorf("push in flight: %v", err)
	}
	if err := push(context.Background(), 0xc); err != nil {
		t.Errorf("push after the cancellations: %v", err)
	}
	c.Close()
	if err := push(context.Background(), 0xd); !errors.Is(err, ErrClosed) {
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
	c, err := New(push, Options{BaseURL: url, RootCAs: roots, MaxAttempts: 2, MinBackoff: time.Millisecond})
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

// TestConnHealthCheckWhileIdle checks that an idle connection that falls
// silent is closed by the client, and that the next push gets a new one.
func TestConnHealthCheckWhileIdle(t *testing.T) {
	shortPings(t)
	closed := make(chan struct{})
	_, c := newRawServer(t, Options{}, func(rc *rawConn) {
		r, ok := rc.first()
		if !ok {
			return
		}
		rc.respond(r.id, 200, "")
		if rc.n > 1 {
			for {
				r, ok := rc.next()
				if !ok {
					return
				}
				rc.respond(r.id, 200, "")
			}
		}
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
	res, err = c.Push(context.Background(), rawTargets(1))
	mustSucceed(t, res, err)
}
