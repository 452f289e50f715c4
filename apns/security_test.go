package apns_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/enrollkit/enrollkit/apns"
	"github.com/enrollkit/enrollkit/mdm"
)

// TestPushLogsCarryNoToken pushes to targets that fail in every class, with
// retries, logging at Debug, and looks for any part of the device tokens
// and for the push magic in the log.
func TestPushLogsCarryNoToken(t *testing.T) {
	p := newPKI(t)
	f := newFakeAPNs(t, p, func(token string, attempt int) answer {
		switch token[len(token)-1] {
		case '1':
			return answer{403, `{"reason":"BadCertificate"}`}
		case '2':
			return answer{410, `{"reason":"Unregistered","timestamp":1700000000000}`}
		case '3':
			return answer{400, `{"reason":"BadDeviceToken"}`}
		}
		return answer{503, ""}
	})
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(t, p, f, apns.Options{Logger: logger, MaxAttempts: 2})
	var ts []mdm.PushTarget
	var secrets []string
	for i := range 4 {
		tok := bytes.Repeat([]byte{0xC0, 0xFF, 0xEE, 0x40 + byte(i)}, 8)
		tok[31] = byte(0xA0 + i) // the fake keys its answer on the last hex digit
		magic := "PUSH-MAGIC-7d1e-" + string(rune('a'+i))
		ts = append(ts, mdm.PushTarget{EnrollmentID: "e", Token: tok, PushMagic: magic, Topic: testTopic})
		secrets = append(secrets, hex.EncodeToString(tok[:4]), magic)
	}
	ts = append(ts, mdm.PushTarget{EnrollmentID: "short", Token: []byte{0x5e, 0xc2}, PushMagic: "PUSH-MAGIC-short", Topic: testTopic})
	secrets = append(secrets, "5ec2")
	res, err := c.Push(context.Background(), ts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err == nil {
			t.Fatalf("push to %s succeeded", r.EnrollmentID)
		}
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if strings.Count(out, `msg="apns: push failed"`) != len(ts) {
		t.Fatalf("not every failure was logged:\n%s", out)
	}
	for _, s := range secrets {
		if strings.Contains(strings.ToLower(out), strings.ToLower(s)) {
			t.Errorf("the log carries %q:\n%s", s, out)
		}
	}
}
