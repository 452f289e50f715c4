package mdm_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/mdm"
)

// TestIdentityBeforeDecoding: who is speaking is checked before what they
// say. A body that is malformed, or would cost the decoder far more than
// its size, is answered 401 when unsigned and 403 when signed by a foreign
// identity, as a well-formed one would be; only a device holding an
// identity the roots issued learns that its body is malformed (400).
func TestIdentityBeforeDecoding(t *testing.T) {
	h := newHarness(t, nil)
	ue := ueDevice(t, h, "UE-ORDER", 1)
	h.enroll(ue)
	stranger := newDevice(t, newCA(t, "Someone Else's CA", 3), ue.ident, 4)
	malformed := []byte("<plist><dict><key>")
	notPlist := []byte("Status = Idle;")
	costly := hostileFlatDicts(ue, 64<<10)
	costlyBinary := hostileBinary(ue, 64<<10, true)
	for _, tc := range []struct {
		name string
		do   func(body []byte) int
		want int
	}{
		{"unsigned", func(b []byte) int { return send(h.svc, mdm.ContentTypeCommand, b, nil).Code }, http.StatusUnauthorized},
		{"unsigned without Content-Type", func(b []byte) int { return send(h.svc, "", b, nil).Code }, http.StatusUnauthorized},
		{"garbage signature", func(b []byte) int {
			return send(h.svc, mdm.ContentTypeCommand, b, map[string]string{"Mdm-Signature": "bm90IGNtcw=="}).Code
		}, http.StatusUnauthorized},
		{"foreign identity", func(b []byte) int { return stranger.command(t, h.svc, b).Code }, http.StatusForbidden},
		{"enrolled device", func(b []byte) int { return ue.command(t, h.svc, b).Code }, http.StatusBadRequest},
	} {
		for _, body := range []struct {
			name string
			b    []byte
		}{{"malformed", malformed}, {"not a plist", notPlist}, {"costly xml", costly}, {"costly binary", costlyBinary}} {
			t.Run(tc.name+"/"+body.name, func(t *testing.T) {
				before := len(h.kinds())
				if got := tc.do(body.b); got != tc.want {
					t.Fatalf("status %d, want %d", got, tc.want)
				}
				if len(h.kinds()) != before {
					t.Fatalf("refused request reached the observer: %q", h.kinds()[before:])
				}
			})
		}
	}
}

// TestCheckinLimit: a check-in is refused from its size at the default
// limit, 256 KiB, while the same bytes as a command result are read.
func TestCheckinLimit(t *testing.T) {
	h := newHarness(t, nil)
	ue := ueDevice(t, h, "UE-LIMIT", 1)
	h.enroll(ue)
	pad := `<key>Pad</key><string>` + strings.Repeat("A", mdm.DefaultMaxCheckinBytes) + `</string>`
	big := plistDoc(`<key>MessageType</key><string>CheckOut</string>` + ue.idKeys() + pad)
	if w := ue.checkin(t, h.svc, big); w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d-byte check-in: %d, want 413", len(big), w.Code)
	}
	// Without a Content-Type it is read within the command limit, and
	// refused as a check-in once decoded.
	if w := ue.do(t, h.svc, "", big); w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d-byte check-in without Content-Type: %d, want 413", len(big), w.Code)
	}
	rec, err := h.svc.Enrollment(context.Background(), "UE-LIMIT")
	if err != nil || rec.CheckedOut {
		t.Fatalf("the refused CheckOut was stored: %+v, %v", rec, err)
	}
	if w := ue.command(t, h.svc, plistDoc(`<key>Status</key><string>Idle</string>`+ue.idKeys()+pad)); w.Code != http.StatusOK {
		t.Fatalf("the same size as a command result: %d, want 200", w.Code)
	}
	if mdm.DefaultMaxCheckinBytes > 256<<10 || mdm.DefaultMaxCommandBytes > 4<<20 {
		t.Fatalf("default limits %d and %d grew", mdm.DefaultMaxCheckinBytes, mdm.DefaultMaxCommandBytes)
	}
}

// TestDecodeRefusesCostlyBodies: the decoders refuse bodies packed denser
// than devices write them with a *DecodeError matching ErrMalformed.
func TestDecodeRefusesCostlyBodies(t *testing.T) {
	ue := &device{ident: mdm.Identifiers{EnrollmentID: "UE-COST"}}
	for _, body := range [][]byte{hostileFlatDicts(ue, 256<<10), hostileBinary(ue, 256<<10, true)} {
		for name, decode := range map[string]func([]byte) (any, error){
			"Decode":              mdm.Decode,
			"DecodeCheckin":       func(b []byte) (any, error) { return mdm.DecodeCheckin(b) },
			"DecodeCommandResult": func(b []byte) (any, error) { return mdm.DecodeCommandResult(b) },
		} {
			_, err := decode(body)
			var de *mdm.DecodeError
			if !errors.As(err, &de) || !errors.Is(err, mdm.ErrMalformed) || mdm.StatusCode(err) != http.StatusBadRequest {
				t.Fatalf("%s = %v; want *DecodeError matching ErrMalformed (400)", name, err)
			}
		}
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestUntrustedBodyNotRead: without a certificate that chains to the
// roots, the request is refused before a byte of its body is read; with
// one, the body is read (and its signature checked over it).
func TestUntrustedBodyNotRead(t *testing.T) {
	h := newHarness(t, func(o *mdm.Config) { o.CertHeader = "Client-Cert" })
	ue := ueDevice(t, h, "UE-UNREAD", 1)
	h.enroll(ue)
	stranger := newDevice(t, newCA(t, "Someone Else's CA", 3), ue.ident, 4)
	body := ue.status(mdm.StatusIdle, "")
	foreignSig, err := mdm.Sign(body, stranger.cert, stranger.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	forgedSig, err := mdm.Sign(body, ue.cert, stranger.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	goodSig, err := mdm.Sign(body, ue.cert, ue.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		hdr      map[string]string
		want     int
		wantRead bool
	}{
		{"unsigned", nil, http.StatusUnauthorized, false},
		{"garbage signature", map[string]string{"Mdm-Signature": "bm90IGNtcw=="}, http.StatusUnauthorized, false},
		{"foreign signature", map[string]string{"Mdm-Signature": foreignSig}, http.StatusForbidden, false},
		{"foreign certificate header", map[string]string{"Client-Cert": ":" + base64.StdEncoding.EncodeToString(stranger.cert.Raw) + ":"}, http.StatusForbidden, false},
		{"garbage certificate header", map[string]string{"Client-Cert": ":AAAA:"}, http.StatusUnauthorized, false},
		{"trusted certificate, forged signature", map[string]string{"Mdm-Signature": forgedSig}, http.StatusUnauthorized, true},
		{"signed", map[string]string{"Mdm-Signature": goodSig}, http.StatusOK, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cr := &countingReader{r: bytes.NewReader(body)}
			r := httptest.NewRequest(http.MethodPut, "/mdm", cr)
			r.ContentLength = int64(len(body))
			r.Header.Set("Content-Type", mdm.ContentTypeCommand)
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.svc.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
			if read := cr.n > 0; read != tc.wantRead {
				t.Fatalf("%d body bytes read", cr.n)
			}
		})
	}
}
