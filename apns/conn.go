package apns

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The HTTP/2 client below speaks only what APNs needs: POST requests with a
// small body and small answers, many streams multiplexed on one connection.
// Requests are framed under a mutex into a shared buffer that one writer
// goroutine hands to the socket, so that pushes issued together leave in one
// write; one reader goroutine dispatches answers to the waiting pushes.

const (
	// recvWindow is the flow-control window we grant APNs per stream and,
	// topped up continuously, for the connection.
	recvWindow = 1 << 20
	// writeTimeout bounds one write to the socket.
	writeTimeout = 30 * time.Second
	// maxStreamID is where a connection stops opening streams and a new one
	// is dialled.
	maxStreamID = 1<<31 - 1 - 2
)

// pingInterval is how long the connection may go without any frame from APNs
// before the connection is checked with a PING; pingTimeout is how long the
// answer may take before the connection is declared dead. Tests shorten them.
var (
	// dialTimeout bounds connecting, the TLS handshake and the exchange of
	// settings.
	dialTimeout  = 20 * time.Second
	pingInterval = 15 * time.Second
	pingTimeout  = 15 * time.Second
)

// errConnLost is the cause of failures of pushes that were in flight when
// the connection broke.
var errConnLost = errors.New("apns: connection to APNs lost")

// notSentError wraps failures that happened before APNs processed the
// request (a GOAWAY naming an earlier stream, a refused stream, a connection
// that was already broken): the push can be retried at once.
type notSentError struct{ err error }

func (e *notSentError) Error() string { return e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }

// goAwayError reports a GOAWAY from APNs.
type goAwayError struct {
	code   http2.ErrCode
	debug  string
	lastID uint32
}

func (e *goAwayError) Error() string {
	s := "apns: APNs closed the connection (GOAWAY " + e.code.String()
	if e.debug != "" {
		s += ": " + e.debug
	}
	return s + ")"
}

// connSender sends pushes over its own HTTP/2 connections: one that takes
// new streams, plus any that drain after a GOAWAY.
type connSender struct {
	addr      string // host:port
	authority string
	tls       *tls.Config
	logger    *slog.Logger

	mu      sync.Mutex
	cur     *h2conn
	dialing *dialCall
	conns   map[*h2conn]struct{}
	closed  bool
	wg      sync.WaitGroup // connection goroutines
}

// dialCall is a dial in progress that other pushes wait for.
type dialCall struct {
	done chan struct{}
	c    *h2conn
	err  error
}

func newConnSender(tc *tls.Config, host string, logger *slog.Logger) *connSender {
	tc = tc.Clone()
	tc.NextProtos = []string{"h2"}
	addr, authority := host, host
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		addr = net.JoinHostPort(host, "443")
		h = host
	} else if port == "443" {
		authority = h
	}
	if tc.ServerName == "" {
		tc.ServerName = h
	}
	return &connSender{addr: addr, authority: authority, tls: tc, logger: logger, conns: map[*h2conn]struct{}{}}
}

func (s *connSender) send(ctx context.Context, r *request) (response, error) {
	for try := 0; ; try++ {
		c, err := s.conn(ctx)
		if err != nil {
			return response{}, err
		}
		resp, err := c.roundTrip(ctx, r)
		var ns *notSentError
		if errors.As(err, &ns) && errors.Is(err, errConnUnusable) && ctx.Err() == nil && try < 3 {
			// The connection stopped taking streams between conn and
			// roundTrip; take the next one.
			continue
		}
		return resp, err
	}
}

// errConnUnusable means a connection no longer takes new streams.
var errConnUnusable = errors.New("apns: connection no longer takes new pushes")

// conn returns a connection that takes new streams, dialling one if needed.
func (s *connSender) conn(ctx context.Context) (*h2conn, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		if c := s.cur; c != nil && c.usable() {
			s.mu.Unlock()
			return c, nil
		}
		s.cur = nil
		for c := range s.conns {
			if c.dead() {
				delete(s.conns, c)
			}
		}
		if d := s.dialing; d != nil {
			s.mu.Unlock()
			select {
			case <-d.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if d.err != nil {
				if errors.Is(d.err, context.Canceled) || errors.Is(d.err, context.DeadlineExceeded) {
					continue // the dialling push gave up; dial for ourselves
				}
				return nil, d.err
			}
			continue
		}
		d := &dialCall{done: make(chan struct{})}
		s.dialing = d
		s.mu.Unlock()

		d.c, d.err = s.dial(ctx)
		s.mu.Lock()
		s.dialing = nil
		if d.err == nil {
			if s.closed {
				s.mu.Unlock()
				d.c.fail(ErrClosed)
				d.err = ErrClosed
				close(d.done)
				return nil, ErrClosed
			}
			s.cur = d.c
			s.conns[d.c] = struct{}{}
			d.c.start()
		}
		s.mu.Unlock()
		close(d.done)
		if d.err != nil {
			return nil, d.err
		}
	}
}

// dial connects, completes the TLS handshake with the push certificate and
// exchanges HTTP/2 settings. An error is ctx's own only when ctx ended.
func (s *connSender) dial(ctx context.Context) (*h2conn, error) {
	c, err := s.dialTimeout(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("apns: connecting to %s took longer than %v", s.addr, dialTimeout)
		}
		return nil, err
	}
	return c, nil
}

func (s *connSender) dialTimeout(ctx context.Context) (*h2conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, s.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		raw.Close()
		return nil, fmt.Errorf("apns: %s does not speak HTTP/2 (ALPN %q)", s.addr, p)
	}
	c := newH2Conn(s, raw, tc)
	// Preface and settings, then wait for the server's settings: with TLS
	// 1.3 this is also where a refused client certificate shows.
	c.buf = append(c.buf, http2.ClientPreface...)
	c.wfr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: recvWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: 64 << 10},
	)
	c.wfr.WriteWindowUpdate(0, recvWindow-65535)
	stop := context.AfterFunc(ctx, func() { tc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := tc.Write(c.buf); err != nil {
		raw.Close()
		return nil, ctxErr(ctx, err)
	}
	c.buf = c.buf[:0]
	f, err := c.rfr.ReadFrame()
	if err != nil {
		raw.Close()
		return nil, ctxErr(ctx, err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		raw.Close()
		return nil, fmt.Errorf("apns: %s: first frame is %v, not SETTINGS", s.addr, f.Header().Type)
	}
	c.mu.Lock()
	err = c.applySettings(sf)
	c.mu.Unlock()
	if err != nil {
		raw.Close()
		return nil, err
	}
	if !stop() {
		raw.Close()
		return nil, ctx.Err()
	}
	tc.SetDeadline(time.Time{})
	return c, nil
}

// ctxErr prefers the context's error when it caused err.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (s *connSender) close() error {
	s.mu.Lock()
	s.closed = true
	conns := make([]*h2conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.fail(ErrClosed)
	}
	s.wg.Wait()
	return nil
}

// stream is one push in flight.
type stream struct {
	id   uint32
	done chan struct{} // receives one value when the stream ends (b == nil)
	resp response
	err  error
	b    *batchCall // the pipelined batch the stream belongs to, if any
	idx  int        // its index in b
}

// reset clears st for the pool.
func (st *stream) reset() { *st = stream{done: st.done} }

// batchCall is a batch of pushes pipelined on one connection by a single
// goroutine: answers are recorded in place, and the goroutine is woken only
// when enough streams have ended. Its fields are guarded by the mutex of the
// connection it is on.
type batchCall struct {
	reqs     []request
	resps    []response
	errs     []error
	inflight int
	lowWater int  // wake the sender when inflight falls to this
	waiting  bool // the sender waits on wake
	wake     chan struct{}
}

var streamPool = sync.Pool{New: func() any { return &stream{done: make(chan struct{}, 1)} }}

// h2conn is one HTTP/2 connection to APNs.
type h2conn struct {
	s   *connSender
	raw net.Conn // closed directly: no close_notify that could block
	nc  *tls.Conn
	rfr *http2.Framer // used by the reader goroutine only

	lastRead atomic.Int64 // unix nanoseconds of the last frame read

	mu         sync.Mutex
	buf        []byte        // frames waiting for the writer
	wfr        *http2.Framer // writes into buf
	henc       *hpack.Encoder
	hbuf       headerBuf
	body       []byte
	streams    map[uint32]*stream
	nextID     uint32
	maxStreams int   // the peer's SETTINGS_MAX_CONCURRENT_STREAMS
	maxFrame   int   // the peer's SETTINGS_MAX_FRAME_SIZE
	initWindow int64 // the peer's SETTINGS_INITIAL_WINDOW_SIZE
	sendWindow int64 // connection send window
	waiting    int   // pushes waiting for a stream slot or window
	changed    chan struct{}
	goingAway  bool
	pingSent   time.Time
	err        error

	kick    chan struct{}
	closing chan struct{}
}

// connBuf adapts h2conn.buf as the writer of the framer.
type connBuf struct{ c *h2conn }

func (w connBuf) Write(p []byte) (int, error) {
	w.c.buf = append(w.c.buf, p...)
	return len(p), nil
}

// headerBuf collects the header block the encoder writes.
type headerBuf struct{ b []byte }

func (h *headerBuf) Write(p []byte) (int, error) {
	h.b = append(h.b, p...)
	return len(p), nil
}

func newH2Conn(s *connSender, raw net.Conn, nc *tls.Conn) *h2conn {
	c := &h2conn{
		s:          s,
		raw:        raw,
		nc:         nc,
		streams:    map[uint32]*stream{},
		nextID:     1,
		maxStreams: 1000, // unless SETTINGS say otherwise
		maxFrame:   16384,
		initWindow: 65535,
		sendWindow: 65535,
		changed:    make(chan struct{}),
		kick:       make(chan struct{}, 1),
		closing:    make(chan struct{}),
	}
	c.rfr = http2.NewFramer(nil, bufio.NewReaderSize(nc, 64<<10))
	c.rfr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.rfr.MaxHeaderListSize = 64 << 10
	c.wfr = http2.NewFramer(connBuf{c}, nil)
	c.henc = hpack.NewEncoder(&c.hbuf)
	c.lastRead.Store(time.Now().UnixNano())
	return c
}

// start runs the reader and writer goroutines.
func (c *h2conn) start() {
	c.s.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
}

// usable reports whether the connection takes new streams. The caller
// holds s.mu.
func (c *h2conn) usable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err == nil && !c.goingAway
}

// dead reports whether the connection has ended.
func (c *h2conn) dead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

// broadcast wakes pushes waiting for a stream slot or window. The caller
// holds c.mu.
func (c *h2conn) broadcast() {
	if c.waiting > 0 {
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

// flush asks the writer to send what is buffered.
func (c *h2conn) flush() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// roundTrip sends one push on the connection and waits for the answer.
func (c *h2conn) roundTrip(ctx context.Context, r *request) (response, error) {
	c.mu.Lock()
	c.body = appendBody(c.body[:0], r.magic)
	for {
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			if errors.Is(err, ErrClosed) {
				return response{}, err
			}
			return response{}, &notSentError{fmt.Errorf("%w: %w", errConnUnusable, err)}
		}
		if c.goingAway {
			c.mu.Unlock()
			return response{}, &notSentError{errConnUnusable}
		}
		n := int64(len(c.body))
		if len(c.streams) < c.maxStreams && c.sendWindow >= n && c.initWindow >= n {
			break
		}
		ch := c.changed
		c.waiting++
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		c.mu.Lock()
		c.waiting--
		if err := ctx.Err(); err != nil {
			c.mu.Unlock()
			return response{}, err
		}
		c.body = appendBody(c.body[:0], r.magic)
	}
	st := streamPool.Get().(*stream)
	st.id = c.nextID
	c.nextID += 2
	if c.nextID > maxStreamID {
		c.goingAway = true // new pushes go to a new connection
	}
	c.streams[st.id] = st
	c.sendWindow -= int64(len(c.body))
	c.writeRequest(st.id, r)
	c.mu.Unlock()
	c.flush()

	select {
	case <-st.done:
	case <-ctx.Done():
		c.mu.Lock()
		if _, ok := c.streams[st.id]; ok {
			c.endStream(st.id)
			c.wfr.WriteRSTStream(st.id, http2.ErrCodeCancel)
			c.mu.Unlock()
			c.flush()
			st.reset()
			streamPool.Put(st)
			return response{}, ctx.Err()
		}
		c.mu.Unlock()
		<-st.done // the answer arrived meanwhile
	}
	resp, err := st.resp, st.err
	st.reset()
	streamPool.Put(st)
	return resp, err
}

// unusableError returns the error for a push that finds the connection no
// longer taking streams. The caller holds c.mu.
func (c *h2conn) unusableError() error {
	if c.err == nil {
		return &notSentError{errConnUnusable}
	}
	if errors.Is(c.err, ErrClosed) {
		return ErrClosed
	}
	return &notSentError{fmt.Errorf("%w: %w", errConnUnusable, c.err)}
}

// pipeline sends b.reqs[i] for each i in idx, in order, with at most limit
// streams of b in flight, and waits until every stream it opened has ended.
// It returns how many requests it sent; err says why the others were not
// (the connection stopped taking streams, ctx ended, the client closed).
func (c *h2conn) pipeline(ctx context.Context, b *batchCall, idx []int, limit int) (sent int, err error) {
	c.mu.Lock()
	for sent < len(idx) {
		if c.err != nil || c.goingAway {
			err = c.unusableError()
			break
		}
		i := idx[sent]
		c.body = appendBody(c.body[:0], b.reqs[i].magic)
		n := int64(len(c.body))
		if b.inflight < limit && len(c.streams) < c.maxStreams && c.sendWindow >= n && c.initWindow >= n {
			st := streamPool.Get().(*stream)
			st.id, st.b, st.idx = c.nextID, b, i
			c.nextID += 2
			if c.nextID > maxStreamID {
				c.goingAway = true
			}
			c.streams[st.id] = st
			c.sendWindow -= n
			c.writeRequest(st.id, &b.reqs[i])
			b.inflight++
			sent++
			if sent%32 == 0 { // let the writer start on what is framed
				c.mu.Unlock()
				c.flush()
				c.mu.Lock()
			}
			continue
		}
		// Wait for our own streams to drain to half the limit, or for
		// the connection to free a stream or window.
		var ch <-chan struct{}
		own := b.inflight >= limit
		if own {
			b.lowWater, b.waiting = limit/2, true
			ch = b.wake
		} else {
			c.waiting++
			ch = c.changed
		}
		c.mu.Unlock()
		c.flush()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		c.mu.Lock()
		if own {
			b.waiting = false
		} else {
			c.waiting--
		}
		if ctx.Err() != nil {
			err = ctx.Err()
			break
		}
	}
	c.mu.Unlock()
	c.flush()

	c.mu.Lock()
	defer c.mu.Unlock()
	for b.inflight > 0 {
		if cerr := ctx.Err(); cerr != nil {
			for id, st := range c.streams {
				if st.b == b {
					st.err = cerr
					c.endStream(id)
					c.wfr.WriteRSTStream(id, http2.ErrCodeCancel)
					c.complete(st)
				}
			}
			c.flush()
			if err == nil {
				err = cerr
			}
			break
		}
		b.lowWater, b.waiting = 0, true
		c.mu.Unlock()
		select {
		case <-b.wake:
		case <-ctx.Done():
		}
		c.mu.Lock()
		b.waiting = false
	}
	return sent, err
}

// writeRequest frames the HEADERS and DATA of a push. The caller holds c.mu
// and has put the body in c.body.
func (c *h2conn) writeRequest(id uint32, r *request) {
	c.hbuf.b = c.hbuf.b[:0]
	e := c.henc
	e.WriteField(hpack.HeaderField{Name: ":method", Value: "POST"})
	e.WriteField(hpack.HeaderField{Name: ":scheme", Value: "https"})
	e.WriteField(hpack.HeaderField{Name: ":authority", Value: c.s.authority})
	e.WriteField(hpack.HeaderField{Name: ":path", Value: string(appendPath(make([]byte, 0, 10+2*len(r.token)), r.token)), Sensitive: true})
	e.WriteField(hpack.HeaderField{Name: "content-type", Value: "application/json"})
	e.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(c.body))})
	e.WriteField(hpack.HeaderField{Name: "apns-push-type", Value: "mdm"})
	e.WriteField(hpack.HeaderField{Name: "apns-topic", Value: r.topic})
	e.WriteField(hpack.HeaderField{Name: "apns-expiration", Value: r.expiration})
	e.WriteField(hpack.HeaderField{Name: "apns-priority", Value: r.priority})
	if r.id != "" {
		e.WriteField(hpack.HeaderField{Name: "apns-id", Value: r.id, Sensitive: true})
	}
	block := c.hbuf.b
	first := block[:min(len(block), c.maxFrame)]
	block = block[len(first):]
	c.wfr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndHeaders: len(block) == 0})
	for len(block) > 0 {
		frag := block[:min(len(block), c.maxFrame)]
		block = block[len(frag):]
		c.wfr.WriteContinuation(id, len(block) == 0, frag)
	}
	data := c.body
	for {
		chunk := data[:min(len(data), c.maxFrame)]
		data = data[len(chunk):]
		c.wfr.WriteData(id, len(data) == 0, chunk)
		if len(data) == 0 {
			break
		}
	}
}

// endStream forgets a stream. The caller holds c.mu.
func (c *h2conn) endStream(id uint32) {
	delete(c.streams, id)
	c.broadcast()
	if c.goingAway && len(c.streams) == 0 && c.err == nil {
		c.err = errConnUnusable
		c.closeLocked()
	}
}

// finish completes a stream with its answer or error. The caller holds
// c.mu.
func (c *h2conn) finish(st *stream) {
	c.endStream(st.id)
	c.complete(st)
}

// complete hands a finished stream's outcome to whoever waits for it. The
// caller holds c.mu and has removed st from c.streams.
func (c *h2conn) complete(st *stream) {
	b := st.b
	if b == nil {
		st.done <- struct{}{}
		return
	}
	b.resps[st.idx], b.errs[st.idx] = st.resp, st.err
	b.inflight--
	if b.waiting && b.inflight <= b.lowWater {
		b.waiting = false
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	st.reset()
	streamPool.Put(st)
}

// fail breaks the connection: every stream in flight ends with err.
func (c *h2conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
		c.closeLocked()
	}
	c.mu.Unlock()
}

// closeLocked ends every stream and closes the socket. The caller holds
// c.mu and has set c.err.
func (c *h2conn) closeLocked() {
	for id, st := range c.streams {
		delete(c.streams, id)
		if errors.Is(c.err, ErrClosed) {
			st.err = ErrClosed
		} else {
			st.err = fmt.Errorf("%w: %w", errConnLost, c.err)
		}
		c.complete(st)
	}
	close(c.closing)
	c.raw.Close()
	close(c.changed)
	c.changed = make(chan struct{})
}

// writeLoop hands buffered frames to the socket and checks the connection's
// health while streams wait.
func (c *h2conn) writeLoop() {
	defer c.s.wg.Done()
	tick := time.NewTicker(pingInterval / 3)
	defer tick.Stop()
	var spare []byte
	for {
		select {
		case <-c.kick:
		case <-tick.C:
			if !c.checkHealth() {
				return
			}
		case <-c.closing:
			return
		}
		c.mu.Lock()
		if c.err != nil {
			c.mu.Unlock()
			return
		}
		buf := c.buf
		c.buf = spare[:0]
		c.mu.Unlock()
		if len(buf) == 0 {
			spare = buf
			continue
		}
		c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, err := c.nc.Write(buf)
		spare = buf[:0]
		if err != nil {
			c.fail(err)
			return
		}
	}
}

// checkHealth sends a PING when no frame came from APNs for pingInterval,
// whether or not pushes wait, and fails the connection when the PING goes
// unanswered: a connection that died quietly is found before a push is lost
// in it.
func (c *h2conn) checkHealth() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return false
	}
	now := time.Now()
	last := time.Unix(0, c.lastRead.Load())
	if !c.pingSent.IsZero() {
		switch {
		case last.After(c.pingSent):
			c.pingSent = time.Time{} // APNs spoke since: alive
		case now.Sub(c.pingSent) > pingTimeout:
			c.err = errors.New("apns: APNs did not answer a PING")
			c.closeLocked()
			return false
		default:
			return true
		}
	}
	if now.Sub(last) > pingInterval {
		c.pingSent = now
		c.wfr.WritePing(false, [8]byte{'e', 'n', 'r', 'o', 'l', 'l', 'k', 't'})
		c.flush()
	}
	return true
}

// readLoop reads frames until the connection ends.
func (c *h2conn) readLoop() {
	defer c.s.wg.Done()
	for {
		f, err := c.rfr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				c.mu.Lock()
				if st, ok := c.streams[se.StreamID]; ok {
					st.err = fmt.Errorf("apns: malformed answer: %w", err)
					c.finish(st)
					c.wfr.WriteRSTStream(se.StreamID, se.Code)
				}
				c.mu.Unlock()
				c.flush()
				continue
			}
			c.fail(err)
			return
		}
		c.lastRead.Store(time.Now().UnixNano())
		c.mu.Lock()
		err = c.handle(f)
		if err != nil && c.err == nil {
			c.err = err
			c.closeLocked()
		}
		stop := c.err != nil
		c.mu.Unlock()
		if stop {
			return
		}
	}
}

// handle processes one frame. The caller holds c.mu.
func (c *h2conn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		st := c.streams[f.StreamID]
		if st == nil {
			return nil // cancelled
		}
		if st.resp.status == 0 {
			status, err := strconv.Atoi(f.PseudoValue("status"))
			if err != nil || status < 100 {
				st.err = fmt.Errorf("apns: malformed :status %q", f.PseudoValue("status"))
				c.finish(st)
				c.wfr.WriteRSTStream(f.StreamID, http2.ErrCodeProtocol)
				c.flush()
				return nil
			}
			if status >= 200 {
				st.resp.status = status
				for _, hf := range f.RegularFields() {
					if hf.Name == "apns-id" {
						st.resp.id = hf.Value
					}
				}
			}
		}
		if f.StreamEnded() {
			c.finish(st)
		}
	case *http2.DataFrame:
		if n := f.Header().Length; n > 0 {
			c.wfr.WriteWindowUpdate(0, n)
			c.flush()
		}
		st := c.streams[f.StreamID]
		if st == nil {
			return nil
		}
		if room := maxErrorBody - len(st.resp.body); room > 0 {
			d := f.Data()
			st.resp.body = append(st.resp.body, d[:min(len(d), room)]...)
		}
		if f.StreamEnded() {
			c.finish(st)
		}
	case *http2.RSTStreamFrame:
		st := c.streams[f.StreamID]
		if st == nil {
			return nil
		}
		if st.resp.status != 0 && f.ErrCode == http2.ErrCodeNo {
			// The answer is complete; APNs just does not want the rest.
			c.finish(st)
			return nil
		}
		err := error(http2.StreamError{StreamID: f.StreamID, Code: f.ErrCode})
		if f.ErrCode == http2.ErrCodeRefusedStream {
			err = &notSentError{err}
		}
		st.err = err
		c.finish(st)
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		if err := c.applySettings(f); err != nil {
			return err
		}
		c.broadcast()
	case *http2.WindowUpdateFrame:
		if f.StreamID == 0 {
			c.sendWindow += int64(f.Increment)
			if c.sendWindow > 1<<31-1 {
				return errors.New("apns: APNs overflowed the flow-control window")
			}
			c.broadcast()
		}
	case *http2.PingFrame:
		if f.IsAck() {
			c.pingSent = time.Time{}
			return nil
		}
		c.wfr.WritePing(true, f.Data)
		c.flush()
	case *http2.GoAwayFrame:
		ga := &goAwayError{code: f.ErrCode, debug: string(f.DebugData()), lastID: f.LastStreamID}
		c.s.logger.Info("apns: APNs sent GOAWAY",
			slog.String("code", f.ErrCode.String()),
			slog.String("debug", ga.debug),
			slog.Int("last_stream_id", int(f.LastStreamID)))
		c.goingAway = true
		for id, st := range c.streams {
			if id > f.LastStreamID {
				st.err = &notSentError{ga}
				c.finish(st)
			}
		}
		c.broadcast()
		if len(c.streams) == 0 && c.err == nil {
			c.err = ga
			c.closeLocked()
		}
	case *http2.PushPromiseFrame:
		return errors.New("apns: APNs sent PUSH_PROMISE although push is disabled")
	}
	return nil
}

// applySettings applies the peer's SETTINGS and acknowledges them. The
// caller holds c.mu.
func (c *h2conn) applySettings(f *http2.SettingsFrame) error {
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingMaxConcurrentStreams:
			c.maxStreams = int(min(s.Val, 1<<20))
		case http2.SettingMaxFrameSize:
			c.maxFrame = int(s.Val)
		case http2.SettingInitialWindowSize:
			c.initWindow = int64(s.Val)
		case http2.SettingHeaderTableSize:
			c.henc.SetMaxDynamicTableSizeLimit(s.Val)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("apns: bad SETTINGS from APNs: %w", err)
	}
	c.wfr.WriteSettingsAck()
	c.flush()
	return nil
}
