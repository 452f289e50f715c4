package devicesim

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PushServer stands in for the Apple Push Notification service in tests:
// an http.Handler speaking the provider API an MDM server uses
// (POST /3/device/<hex token>, HTTP/2 over TLS in production) that delivers
// each valid MDM push to the device it is addressed to by calling its Push.
// Serve it with httptest.NewUnstartedServer, EnableHTTP2 = true and
// StartTLS to test a real push client.
//
// A push is accepted (200 with an apns-id) only when apns-push-type is
// "mdm", apns-topic is the device's topic, any apns-priority is 5 or 10, any
// apns-expiration is an integer, and the body is exactly {"mdm":PushMagic}
// with the device's PushMagic. A token no device registered gives 400
// BadDeviceToken; a device that has since been removed gives 410
// Unregistered, as APNs does. The zero value is ready to use and safe for
// concurrent use.
type PushServer struct {
	mu      sync.Mutex
	devices []*Device
	pushes  []PushRecord
}

// PushRecord is one request the PushServer received.
type PushRecord struct {
	// Token is the device token from the path.
	Token []byte
	// Header holds the request's apns-* headers.
	Header http.Header
	// Body is the request body.
	Body []byte
	// Status and Reason are the answer (Reason empty for 200).
	Status int
	Reason string
	// Delivered reports whether a device was woken.
	Delivered bool
	// Time is when the push arrived.
	Time time.Time
}

// Add registers devices: pushes to their tokens wake them. A device
// registered before it enrolled is matched by its token at push time.
func (s *PushServer) Add(devices ...*Device) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.devices = append(s.devices, devices...)
}

// Pushes returns the requests received so far, oldest first.
func (s *PushServer) Pushes() []PushRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PushRecord, len(s.pushes))
	copy(out, s.pushes)
	return out
}

// ServeHTTP implements the APNs provider API for MDM pushes.
func (s *PushServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := PushRecord{Header: http.Header{}, Time: time.Now()}
	for k, v := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "apns-") {
			rec.Header[k] = v
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4097))
	rec.Body = body
	status, reason, target := s.check(r, body, err, &rec)
	if target != nil {
		target.Push()
		rec.Delivered = true
	}
	s.mu.Lock()
	rec.Status, rec.Reason = status, reason
	s.pushes = append(s.pushes, rec)
	s.mu.Unlock()

	id := r.Header.Get("apns-id")
	if id == "" {
		var b [16]byte
		rand.Read(b[:])
		id = fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	}
	w.Header().Set("apns-id", id)
	if status == http.StatusOK {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	out := map[string]any{"reason": reason}
	if status == http.StatusGone {
		out["timestamp"] = time.Now().UnixMilli()
	}
	json.NewEncoder(w).Encode(out)
}

// check validates one push and finds the device it wakes.
func (s *PushServer) check(r *http.Request, body []byte, readErr error, rec *PushRecord) (int, string, *Device) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "MethodNotAllowed", nil
	}
	tokHex, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if !ok {
		return http.StatusNotFound, "BadPath", nil
	}
	tok, err := hex.DecodeString(tokHex)
	if err != nil || len(tok) == 0 {
		return http.StatusBadRequest, "BadDeviceToken", nil
	}
	rec.Token = tok
	if readErr != nil || len(body) > 4096 {
		return http.StatusRequestEntityTooLarge, "PayloadTooLarge", nil
	}
	if r.Header.Get("apns-push-type") != "mdm" {
		return http.StatusBadRequest, "InvalidPushType", nil
	}
	topic := r.Header.Get("apns-topic")
	if topic == "" {
		return http.StatusBadRequest, "MissingTopic", nil
	}
	if p := r.Header.Get("apns-priority"); p != "" && p != "5" && p != "10" {
		return http.StatusBadRequest, "BadPriority", nil
	}
	if e := r.Header.Get("apns-expiration"); e != "" {
		if _, err := strconv.ParseInt(e, 10, 64); err != nil {
			return http.StatusBadRequest, "BadExpirationDate", nil
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return http.StatusBadRequest, "PayloadEmpty", nil
	}
	var payload map[string]any
	if err := json.Unmarshal(body, &payload); err != nil {
		return http.StatusBadRequest, "BadPayload", nil
	}
	magic, _ := payload["mdm"].(string)
	if len(payload) != 1 || magic == "" {
		return http.StatusBadRequest, "BadPayload", nil // an MDM push carries only {"mdm": PushMagic}
	}

	s.mu.Lock()
	devices := append([]*Device(nil), s.devices...)
	s.mu.Unlock()
	gone := false
	for _, d := range devices {
		gone = gone || d.hadToken(tok)
		t, ok := d.PushTarget()
		if !ok || !bytes.Equal(t.Token, tok) {
			// A Mac's user channel has a push token of its own.
			if t, ok = d.UserPushTarget(); !ok || !bytes.Equal(t.Token, tok) {
				continue
			}
		}
		if t.Topic != topic {
			return http.StatusBadRequest, "DeviceTokenNotForTopic", nil
		}
		if t.PushMagic != magic {
			return http.StatusBadRequest, "BadPayload", nil
		}
		return http.StatusOK, "", d
	}
	if gone {
		return http.StatusGone, "Unregistered", nil
	}
	return http.StatusBadRequest, "BadDeviceToken", nil
}
