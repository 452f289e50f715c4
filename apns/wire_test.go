package apns

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// jsonBody is the body encoding/json produces (without HTML escaping).
func jsonBody(magic string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(struct {
		MDM string `json:"mdm"`
	}{magic})
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

func TestAppendBody(t *testing.T) {
	tests := []struct{ magic, want string }{
		{"5fd1e0b5-7d3c-4d2b-a1f4-8e6c0b9d2a7e", `{"mdm":"5fd1e0b5-7d3c-4d2b-a1f4-8e6c0b9d2a7e"}`},
		{"", `{"mdm":""}`},
		{`a"b\c`, `{"mdm":"a\"b\\c"}`},
		{"\n\r\t\b\f\x00\x1f", `{"mdm":"\n\r\t\b\f\u0000\u001f"}`},
		{"<&>", `{"mdm":"<&>"}`},
		{"é\u2028\u2029😀", `{"mdm":"é\u2028\u2029😀"}`},
		{"bad\xffutf8\xc3", `{"mdm":"bad\ufffdutf8\ufffd"}`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.magic), func(t *testing.T) {
			got := string(appendBody(nil, tt.magic))
			if got != tt.want {
				t.Errorf("appendBody = %s, want %s", got, tt.want)
			}
			if std := jsonBody(tt.magic); got != std {
				t.Errorf("appendBody = %s, encoding/json = %s", got, std)
			}
		})
	}
}

func FuzzAppendBody(f *testing.F) {
	for _, s := range []string{"", "x", `"\`, "\x00\xff", "\u2028", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, magic string) {
		got := appendBody([]byte("prefix"), magic)[len("prefix"):]
		if want := jsonBody(magic); string(got) != want {
			t.Fatalf("appendBody(%q) = %s, encoding/json = %s", magic, got, want)
		}
	})
}

func TestParseErrorBody(t *testing.T) {
	tests := []struct {
		body   string
		reason string
		ts     time.Time
	}{
		{`{"reason":"BadDeviceToken"}`, "BadDeviceToken", time.Time{}},
		{`{"reason":"Unregistered","timestamp":1764000000123}`, "Unregistered", time.UnixMilli(1764000000123).UTC()},
		{`{"reason":"Unregistered","timestamp":-5}`, "Unregistered", time.Time{}},
		{`{"reason":1}`, "", time.Time{}},
		{`not json`, "", time.Time{}},
		{``, "", time.Time{}},
	}
	for _, tt := range tests {
		reason, ts := parseErrorBody([]byte(tt.body))
		if reason != tt.reason || !ts.Equal(tt.ts) {
			t.Errorf("parseErrorBody(%s) = %q, %v; want %q, %v", tt.body, reason, ts, tt.reason, tt.ts)
		}
	}
}

func FuzzParseErrorBody(f *testing.F) {
	f.Add([]byte(`{"reason":"Unregistered","timestamp":1764000000123}`))
	f.Add([]byte(`{"reason":"BadDeviceToken"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		reason, ts := parseErrorBody(body)
		var eb errorBody
		if json.Unmarshal(body, &eb) != nil {
			if reason != "" || !ts.IsZero() {
				t.Fatalf("invalid body %q gave %q, %v", body, reason, ts)
			}
			return
		}
		if reason != eb.Reason || (eb.Timestamp > 0) == ts.IsZero() {
			t.Fatalf("body %q gave %q, %v", body, reason, ts)
		}
	})
}

func TestClassifyTransportErrors(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		class error
		retry bool
	}{
		{"cancelled", context.Canceled, ErrUnavailable, false},
		{"deadline", fmt.Errorf("read: %w", context.DeadlineExceeded), ErrUnavailable, false},
		{"closed", ErrClosed, ErrUnavailable, false},
		{"alert", &net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}, ErrCertificate, false},
		{"alert about something else", &net.OpError{Op: "remote error", Err: errors.New("tls: no application protocol")}, ErrUnavailable, true},
		{"reset", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, ErrUnavailable, true},
		{"lost", errors.New("http2: client connection lost"), ErrUnavailable, true},
		{"goaway", http2.GoAwayError{ErrCode: http2.ErrCodeNo}, ErrUnavailable, true},
		{"refused", http2.StreamError{StreamID: 3, Code: http2.ErrCodeRefusedStream}, ErrUnavailable, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, retry := classify([]byte{1, 2}, response{}, tt.err)
			if !errors.Is(e, tt.class) || retry != tt.retry || !errors.Is(e, tt.err) {
				t.Errorf("classify = %v (class %v), retry %v; want %v, %v", e, e.class, retry, tt.class, tt.retry)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	c := &Client{minBackoff: 100 * time.Millisecond, maxBackoff: time.Second}
	for attempt := 1; attempt <= 8; attempt++ {
		full := min(c.minBackoff<<(attempt-1), c.maxBackoff)
		for range 50 {
			d := c.backoff(attempt)
			if d < full/2 || d > full {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", attempt, d, full/2, full)
			}
		}
	}
}

func TestPushErrorMessage(t *testing.T) {
	tests := []struct {
		err  *PushError
		want string
	}{
		{&PushError{Token: []byte{0xde, 0xad, 0xbe, 0xef, 1}, Status: 410, Reason: "Unregistered", Timestamp: time.UnixMilli(1700000000000), Attempts: 1},
			"apns: push to deadbeef…: 410 Unregistered since 2023-11-14T22:13:20Z"},
		{&PushError{Token: []byte{1}, Status: 503, Attempts: 3}, "apns: push to 01: 503 (after 3 attempts)"},
		{&PushError{Err: errors.New("no device token"), class: ErrInvalidTarget}, "apns: push to <no token>: no device token"},
		{&PushError{Token: []byte{1}, class: ErrUnavailable}, "apns: push to 01: apns: push service unavailable"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
