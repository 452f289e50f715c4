package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Headers of a webhook delivery.
const (
	// signatureHeader carries "t=UNIX,v1=HEX": HEX is the HMAC-SHA256,
	// under the shared secret, of UNIX + "." + the body. The timestamp is
	// the attempt's, so a receiver can refuse old (replayed) deliveries.
	signatureHeader = "Enrollkit-Signature"
	// idempotencyHeader carries the event's ID, the same on every attempt.
	idempotencyHeader = "Idempotency-Key"
)

// Webhook defaults.
const (
	webhookFirstRetry  = time.Second
	webhookMaxRetry    = 5 * time.Minute
	webhookMaxPending  = 10000
	webhookTryDeadline = 10 * time.Second
	webhookDrain       = 5 * time.Second
)

// webhook posts every event to a URL, signed, until the receiver answers
// 2xx: at least once, in order for each enrollment (an event waits until
// the one before it for the same enrollment is acknowledged), retrying with
// exponential back-off. Events of different enrollments go out
// independently. Pending events live in memory: Close gives them
// webhookDrain to go out, those still pending then are lost, and at most
// webhookMaxPending wait (newer ones are dropped, and logged, beyond that).
type webhook struct {
	url    string
	secret []byte
	client *http.Client
	log    *slog.Logger
	// firstRetry is the wait before the first retry; it doubles up to
	// maxRetry.
	firstRetry, maxRetry time.Duration
	now                  func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	lanes   map[string][]Event // pending events by Event.key, oldest first
	pending int
	closed  bool
}

// newWebhook returns a webhook posting to url, signed with secret.
func newWebhook(url string, secret []byte, logger *slog.Logger) *webhook {
	ctx, cancel := context.WithCancel(context.Background())
	return &webhook{
		url: url, secret: secret, log: logger,
		client:     &http.Client{Timeout: webhookTryDeadline},
		firstRetry: webhookFirstRetry, maxRetry: webhookMaxRetry, now: time.Now,
		ctx: ctx, cancel: cancel, lanes: map[string][]Event{},
	}
}

// send queues ev for delivery; it does not block.
func (w *webhook) send(_ context.Context, ev Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.log.Error("webhook: event after Close, dropped", "event_id", ev.ID, "type", ev.Type)
		return
	}
	if w.pending >= webhookMaxPending {
		w.log.Error("webhook: too many events pending, dropping one", "event_id", ev.ID, "type", ev.Type)
		return
	}
	k := ev.key()
	w.lanes[k] = append(w.lanes[k], ev)
	w.pending++
	if len(w.lanes[k]) == 1 { // no worker for this key yet
		w.wg.Add(1)
		go w.run(k)
	}
}

// run delivers the events of one key in order until none is left.
func (w *webhook) run(k string) {
	defer w.wg.Done()
	for {
		w.mu.Lock()
		ev := w.lanes[k][0]
		w.mu.Unlock()
		if !w.deliver(ev) {
			return // stopped
		}
		w.mu.Lock()
		w.lanes[k] = w.lanes[k][1:]
		w.pending--
		if len(w.lanes[k]) == 0 {
			delete(w.lanes, k)
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
	}
}

// deliver posts ev until the receiver acknowledges it; false if the
// webhook was stopped first.
func (w *webhook) deliver(ev Event) bool {
	body, err := json.Marshal(ev)
	if err != nil {
		w.log.Error("webhook: encoding event", "event_id", ev.ID, "err", err)
		return true // cannot ever succeed: go on with the next
	}
	wait := w.firstRetry
	for attempt := 1; ; attempt++ {
		err := w.post(ev.ID, body)
		if err == nil {
			return true
		}
		w.log.Warn("webhook: delivery failed, retrying", "event_id", ev.ID, "attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-w.ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, w.maxRetry)
	}
}

// post makes one delivery attempt.
func (w *webhook) post(id string, body []byte) error {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(idempotencyHeader, id)
	req.Header.Set(signatureHeader, signWebhook(w.secret, w.now(), body))
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return nil
}

// Close takes no more events, gives those pending webhookDrain to be
// delivered, then stops; the ones still pending are dropped and logged.
func (w *webhook) Close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	drained := make(chan struct{})
	go func() { w.wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(webhookDrain):
	}
	w.cancel()
	<-drained
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending > 0 {
		w.log.Error("webhook: stopped with events undelivered", "pending", w.pending)
	}
}

// signWebhook returns the signature header value for body sent at t.
func signWebhook(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}
