package apns

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// Timeouts of the client's own connection. Tests shorten them.
var (
	// dialTimeout bounds connecting, the TLS handshake and the wait for
	// APNs' first SETTINGS.
	dialTimeout = 20 * time.Second
	// pingInterval is how long the connection may go without any frame
	// from APNs, whether or not pushes wait, before it is checked with a
	// PING; pingTimeout is how long the answer may take before the
	// connection is declared dead and the pushes in it fail (to be retried
	// on a new one).
	pingInterval = 15 * time.Second
	pingTimeout  = 15 * time.Second
)

// writeTimeout bounds a write to the socket that makes no progress.
const writeTimeout = 30 * time.Second

// transport is the client's own HTTP/2 connection to APNs: an
// [http2.Transport], which frames the requests, honours the stream limit
// and the flow-control windows APNs announces, answers PING and SETTINGS,
// checks a quiet connection with PING, and sends again at once the streams
// APNs refused or did not process before a GOAWAY.
//
// transport is also the Transport's connection pool, holding one
// connection at a time, on which pushes beyond APNs' stream limit wait for
// a stream instead of dialling more. The Transport's own pool reserves a
// stream per request before it may open one, and with StrictMaxConcurrentStreams
// those reservations can stall every request once more wait than the
// server allows (golang/go#70809); this one reserves nothing. It also lets
// close end the connections that still carry pushes.
type transport struct {
	h2 *http2.Transport
	tc *tls.Config

	mu      sync.Mutex
	cur     *http2.ClientConn
	dialing *dialCall
	conns   map[*http2.ClientConn]struct{}
	closed  bool
}

// dialCall is a dial in progress that other pushes wait for.
type dialCall struct {
	done chan struct{}
	err  error
}

func newTransport(tc *tls.Config, logger *slog.Logger) *transport {
	t := &transport{tc: tc.Clone(), conns: map[*http2.ClientConn]struct{}{}}
	t.tc.NextProtos = []string{http2.NextProtoTLS}
	t.h2 = &http2.Transport{
		ConnPool:                   t,
		DisableCompression:         true,
		StrictMaxConcurrentStreams: true,
		MaxHeaderListSize:          64 << 10,
		ReadIdleTimeout:            pingInterval,
		PingTimeout:                pingTimeout,
		WriteByteTimeout:           writeTimeout,
		CountError: func(kind string) {
			// A GOAWAY with an error code, a lost connection, a
			// malformed frame: rare, and worth a line.
			logger.Info("apns: HTTP/2 connection error", slog.String("kind", kind))
		},
	}
	return t
}

// GetClientConn implements [http2.ClientConnPool]: it returns the
// connection that takes new streams, dialling one if needed.
func (t *transport) GetClientConn(req *http.Request, addr string) (*http2.ClientConn, error) {
	ctx := req.Context()
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil, ErrClosed
		}
		if cc := t.cur; cc != nil && cc.CanTakeNewRequest() {
			t.mu.Unlock()
			return cc, nil
		}
		if d := t.dialing; d != nil {
			t.mu.Unlock()
			select {
			case <-d.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if d.err != nil && !errors.Is(d.err, context.Canceled) && !errors.Is(d.err, context.DeadlineExceeded) {
				return nil, d.err
			}
			continue // the dial succeeded, or the push dialling gave up: dial for ourselves
		}
		d := &dialCall{done: make(chan struct{})}
		t.dialing = d
		t.mu.Unlock()

		cc, err := t.dial(ctx, addr)
		t.mu.Lock()
		t.dialing = nil
		closed := t.closed
		if err == nil && !closed {
			t.cur = cc
			t.conns[cc] = struct{}{}
		}
		t.mu.Unlock()
		if err == nil && closed {
			cc.Close()
			err = ErrClosed
		}
		d.err = err
		close(d.done)
		if err != nil {
			return nil, err
		}
	}
}

// MarkDead implements [http2.ClientConnPool]: the Transport calls it when a
// connection has ended.
func (t *transport) MarkDead(cc *http2.ClientConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, cc)
	if t.cur == cc {
		t.cur = nil
	}
}

// dial connects to addr, completes the TLS handshake with the push
// certificate and waits for APNs' first SETTINGS, so that the first pushes
// already honour its limits and a refused certificate shows here, within
// dialTimeout. An error is ctx's own only when ctx ended.
func (t *transport) dial(ctx context.Context, addr string) (*http2.ClientConn, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	cc, err := t.connect(dctx, addr)
	switch {
	case err == nil:
		return cc, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case dctx.Err() != nil:
		return nil, fmt.Errorf("apns: connecting to %s took longer than %v", addr, dialTimeout)
	}
	return nil, err
}

func (t *transport) connect(ctx context.Context, addr string) (*http2.ClientConn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	cfg := t.tc
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
		raw.Close()
		return nil, fmt.Errorf("apns: %s does not speak HTTP/2 (ALPN %q)", addr, p)
	}
	c := &conn{Conn: tc, ready: make(chan struct{})}
	cc, err := t.h2.NewClientConn(c)
	if err != nil {
		raw.Close()
		return nil, err
	}
	select {
	case <-c.ready:
	case <-ctx.Done():
		cc.Close()
		return nil, ctx.Err()
	}
	if c.err != nil {
		cc.Close()
		return nil, c.err
	}
	return cc, nil
}

// conn is a connection of the transport. It tells when the Transport has
// read what APNs sent first.
type conn struct {
	*tls.Conn
	reads int
	ready chan struct{} // closed at the second read, or when the first fails
	err   error         // why the first read failed
}

// Read reads on the connection. The Transport's reader calls it again only
// when it has handled every frame the first read brought, APNs' SETTINGS
// among them.
func (c *conn) Read(p []byte) (int, error) {
	if c.reads < 2 {
		c.reads++
		if c.reads == 2 {
			close(c.ready)
		}
	}
	n, err := c.Conn.Read(p)
	if err != nil && c.reads == 1 {
		c.reads = 2
		c.err = err
		close(c.ready)
	}
	return n, err
}

// Close closes the connection, dropping the socket when the TLS
// close_notify cannot be written at once (as the Transport does with a
// bare *tls.Conn).
func (c *conn) Close() error {
	force := time.AfterFunc(250*time.Millisecond, func() { c.NetConn().Close() })
	defer force.Stop()
	return c.Conn.Close()
}

// isClosed reports whether close was called.
func (t *transport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// close ends every connection: pushes in flight fail, and none is dialled
// again.
func (t *transport) close() error {
	t.mu.Lock()
	t.closed = true
	conns := make([]*http2.ClientConn, 0, len(t.conns))
	for cc := range t.conns {
		conns = append(conns, cc)
	}
	t.mu.Unlock()
	for _, cc := range conns {
		cc.Close()
	}
	return nil
}
