package apns

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
)

// Base URLs of the APNs environments. MDM push certificates issued by the
// Apple Push Certificates Portal are production certificates.
const (
	ProductionURL  = "https://api.push.apple.com"
	DevelopmentURL = "https://api.sandbox.push.apple.com"
)

// Priorities of a push (apns-priority).
const (
	// PriorityImmediate asks APNs to deliver the push immediately.
	PriorityImmediate = 10
	// PriorityConserve lets APNs deliver the push when it suits the
	// device's power budget.
	PriorityConserve = 5
)

// Defaults used for zero Options fields.
const (
	DefaultExpiration  = 7 * 24 * time.Hour
	DefaultConcurrency = 100
	DefaultMaxAttempts = 5
	DefaultMinBackoff  = 200 * time.Millisecond
	DefaultMaxBackoff  = 10 * time.Second
)

// Options configures a Client. The zero value pushes to
// production with the defaults documented on each field.
type Options struct {
	// BaseURL is the APNs endpoint, scheme and host only. Empty means
	// ProductionURL.
	BaseURL string

	// RootCAs verifies the APNs server certificate. Nil means the system
	// roots.
	RootCAs *x509.CertPool

	// Expiration is how long APNs stores a push for a device that is offline
	// (apns-expiration). Zero means DefaultExpiration (a week); a negative
	// value sends apns-expiration 0: APNs tries once and does not store it.
	Expiration time.Duration

	// Priority is sent as apns-priority: PriorityImmediate (10, the
	// default when zero) or PriorityConserve (5).
	Priority int

	// ID, when set, returns the apns-id to send with a push (a lowercase
	// UUID); an empty string sends none and APNs assigns one.
	ID func(mdm.PushTarget) string

	// Concurrency bounds the number of pushes one Push call has in flight
	// (the server's stream limit bounds it too). Zero means
	// DefaultConcurrency.
	Concurrency int

	// MaxAttempts bounds the requests made for one push when APNs answers
	// 429 or 5xx or the connection fails. Zero means DefaultMaxAttempts; the
	// context's deadline bounds retries too.
	MaxAttempts int

	// MinBackoff and MaxBackoff bound the exponential backoff between
	// attempts (with jitter). Zero means DefaultMinBackoff and
	// DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration

	// HTTPClient, when set, sends the pushes instead of the Client's own
	// HTTP/2 connection. Its transport must present the push certificate
	// and speak HTTP/2; RootCAs is then ignored, and Close leaves the
	// client alone.
	HTTPClient *http.Client

	// Logger receives retry records (Debug) and one record per push that
	// failed for good: Debug when APNs rejected it or the target was
	// invalid, Warn when APNs stayed unavailable, Error when it refused the
	// certificate. A Service using this Client as its Pusher does not log
	// these failures again. Nil discards them.
	Logger *slog.Logger
}

// Client sends MDM pushes with one push certificate. It is safe for
// concurrent use and implements [mdm.Pusher]. Its connection to APNs lives
// until Close.
type Client struct {
	topic       string
	priority    string
	expiration  time.Duration
	id          func(mdm.PushTarget) string
	concurrency int
	maxAttempts int
	minBackoff  time.Duration
	maxBackoff  time.Duration
	logger      *slog.Logger
	sender      sender
	closed      atomic.Bool
}

var _ mdm.Pusher = (*Client)(nil)

// New returns a Client that pushes with cert, the MDM push certificate and
// its private key. The topic comes from the certificate (see [Topic]).
func New(cert tls.Certificate, opts Options) (*Client, error) {
	if cert.PrivateKey == nil {
		return nil, errors.New("apns: push certificate has no private key")
	}
	l, err := leaf(cert)
	if err != nil {
		return nil, err
	}
	topic, err := Topic(l)
	if err != nil {
		return nil, err
	}
	c := &Client{
		topic:       topic,
		priority:    "10",
		expiration:  opts.Expiration,
		id:          opts.ID,
		concurrency: opts.Concurrency,
		maxAttempts: opts.MaxAttempts,
		minBackoff:  opts.MinBackoff,
		maxBackoff:  opts.MaxBackoff,
		logger:      opts.Logger,
	}
	switch opts.Priority {
	case 0, PriorityImmediate:
	case PriorityConserve:
		c.priority = "5"
	default:
		return nil, fmt.Errorf("apns: priority %d is neither %d nor %d", opts.Priority, PriorityImmediate, PriorityConserve)
	}
	if c.expiration == 0 {
		c.expiration = DefaultExpiration
	}
	if c.concurrency <= 0 {
		c.concurrency = DefaultConcurrency
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = DefaultMaxAttempts
	}
	if c.minBackoff <= 0 {
		c.minBackoff = DefaultMinBackoff
	}
	if c.maxBackoff <= 0 {
		c.maxBackoff = DefaultMaxBackoff
	}
	if c.maxBackoff < c.minBackoff {
		c.maxBackoff = c.minBackoff
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	base := opts.BaseURL
	if base == "" {
		base = ProductionURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("apns: base URL: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("apns: base URL %q: want https://host[:port]", base)
	}
	c.sender.base = "https://" + u.Host
	c.sender.topic = []string{c.topic}
	c.sender.priority = []string{c.priority}
	if opts.HTTPClient != nil {
		c.sender.do = opts.HTTPClient.Do
	} else {
		c.sender.own = newTransport(&tls.Config{
			Certificates: []tls.Certificate{cert},
			RootCAs:      opts.RootCAs,
			MinVersion:   tls.VersionTLS12,
		}, c.logger)
		c.sender.do = c.sender.own.h2.RoundTrip
	}
	return c, nil
}

// Topic returns the push topic of the client's certificate.
func (c *Client) Topic() string { return c.topic }

// Close closes the connection to APNs; pushes in flight fail. Close is
// idempotent; Push after Close returns ErrClosed.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.sender.close()
}

// Push sends one MDM push per target, at most Options.Concurrency at a
// time, and returns one result per target in the same order. Per-device
// failures are [*PushError] values in the results. The error return is
// non-nil when the whole call failed: the client is closed, or ctx ended
// before every push was done; the results then still hold one entry per
// target and say which pushes went out.
// Push returns promptly when ctx is cancelled. The goroutines it starts have
// ended when it returns, and those the HTTP/2 transport runs for a push end
// with its stream; only the connection's reader lives on, until Close.
func (c *Client) Push(ctx context.Context, targets []mdm.PushTarget) ([]mdm.PushResult, error) {
	results := make([]mdm.PushResult, len(targets))
	if c.closed.Load() {
		return failAll(results, targets, ErrClosed), ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return failAll(results, targets, err), fmt.Errorf("apns: push: %w", err)
	}
	exp := []string{c.expirationHeader(time.Now())}
	c.forEach(len(targets), func(i int) {
		results[i] = c.pushOne(ctx, &targets[i], exp)
	})
	if err := ctx.Err(); err != nil {
		for i := range results {
			if results[i].Err != nil && errors.Is(results[i].Err, err) {
				return results, fmt.Errorf("apns: push: %w", err)
			}
		}
	}
	if c.closed.Load() {
		return results, ErrClosed
	}
	return results, nil
}

// failAll fills results with err for every target: nothing was sent.
func failAll(results []mdm.PushResult, targets []mdm.PushTarget, err error) []mdm.PushResult {
	for i := range targets {
		results[i] = mdm.PushResult{
			EnrollmentID: targets[i].EnrollmentID,
			Err:          &PushError{Token: targets[i].Token, Err: err, class: ErrUnavailable},
		}
	}
	return results
}

// expirationHeader returns the apns-expiration value for pushes sent at now.
func (c *Client) expirationHeader(now time.Time) string {
	if c.expiration < 0 {
		return "0"
	}
	return strconv.FormatInt(now.Add(c.expiration).Unix(), 10)
}

// forEach calls fn(i) for every i below n, from at most Concurrency
// goroutines, and returns when all calls have.
func (c *Client) forEach(n int, fn func(i int)) {
	workers := min(c.concurrency, n)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// pushOne sends one push, retrying transient failures. Streams APNs refused
// or did not process before a GOAWAY are sent again by the HTTP/2 transport
// itself and do not count as attempts.
func (c *Client) pushOne(ctx context.Context, t *mdm.PushTarget, exp []string) mdm.PushResult {
	r := request{token: t.Token, magic: t.PushMagic, expiration: exp}
	if c.id != nil {
		r.id = c.id(*t)
	}
	if err := c.check(t, r.id); err != nil {
		c.logFailure(ctx, t, err)
		return mdm.PushResult{EnrollmentID: t.EnrollmentID, Err: err}
	}
	res := mdm.PushResult{EnrollmentID: t.EnrollmentID}
	for attempt := 1; ; attempt++ {
		resp, err := c.sender.send(ctx, &r)
		if err == nil && resp.status == http.StatusOK {
			res.ID = resp.id
			res.Err = nil
			return res
		}
		perr, retry := classify(t.Token, resp, err)
		perr.Attempts = attempt
		if ctx.Err() != nil && perr.Err == nil {
			perr.Err = ctx.Err()
		}
		res.Err = perr
		res.ID = perr.ID
		if !retry || attempt >= c.maxAttempts || ctx.Err() != nil {
			c.logFailure(ctx, t, perr)
			return res
		}
		d := c.backoff(attempt)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			c.logFailure(ctx, t, perr)
			return res
		}
		c.logger.DebugContext(ctx, "apns: retrying push",
			slog.String("enrollment", t.EnrollmentID),
			slog.Int("attempt", attempt),
			slog.Duration("backoff", d),
			slog.Any("err", perr))
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			c.logFailure(ctx, t, perr)
			return res
		}
	}
}

// logFailure logs a push that failed for good: the one log line per failed
// push, at Debug for a rejected push or an invalid target (the caller acts on
// the result), Warn when APNs was unavailable and Error when it refused the
// certificate. The keys are stable: enrollment, status, reason, attempts, err.
func (c *Client) logFailure(ctx context.Context, t *mdm.PushTarget, err *PushError) {
	level := slog.LevelDebug // a rejected push is the caller's to handle
	switch err.class {
	case ErrCertificate:
		level = slog.LevelError
	case ErrUnavailable:
		level = slog.LevelWarn
	}
	c.logger.Log(ctx, level, "apns: push failed",
		slog.String("enrollment", t.EnrollmentID),
		slog.Int("status", err.Status),
		slog.String("reason", err.Reason),
		slog.Int("attempts", err.Attempts),
		slog.Any("err", err))
}

// backoff returns the wait before attempt+1: exponential from MinBackoff,
// capped at MaxBackoff, with jitter in [d/2, d].
func (c *Client) backoff(attempt int) time.Duration {
	d := c.minBackoff
	for i := 1; i < attempt && d < c.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.maxBackoff)
	half := d / 2
	return half + rand.N(half+1)
}

// check validates a target before anything is sent.
func (c *Client) check(t *mdm.PushTarget, id string) *PushError {
	var why string
	switch {
	case len(t.Token) == 0:
		why = "no device token"
	case t.PushMagic == "":
		why = "no PushMagic"
	case t.Topic != "" && t.Topic != c.topic:
		why = fmt.Sprintf("topic %q is not the certificate's %q", t.Topic, c.topic)
	case id != "" && !validID(id):
		why = fmt.Sprintf("apns-id %q is not a lowercase UUID", id)
	default:
		return nil
	}
	return &PushError{Token: t.Token, Err: errors.New(why), class: ErrInvalidTarget}
}

// validID reports whether s is a lowercase canonical UUID.
func validID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// appendPath appends the request path for token.
func appendPath(b []byte, token []byte) []byte {
	b = append(b, "/3/device/"...)
	return hex.AppendEncode(b, token)
}
