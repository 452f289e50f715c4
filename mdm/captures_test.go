package mdm

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// A capture is a body a real device sent to another open-source MDM server,
// kept byte-for-byte in testdata/captures; the README there names each
// file's project, upstream path, commit and licence.
type capture struct {
	file string // under testdata/captures
	from string // where it was captured, for failure messages
	// fast says whether the fast path of fastxml.go takes the body; the
	// general decoder always must.
	fast bool
	// typ is the check-in's MessageType; empty for a command result.
	typ MessageType
	// status and uuid are a command result's Status and CommandUUID.
	status Status
	uuid   string
	// channel is the enrollment the body names.
	channel Channel
	// check, if not nil, checks what the body decoded to.
	check func(t *testing.T, v any)
}

const (
	ueEnrollmentID = "FB833D84-50C0-41DD-99DE-F748E44FFEF5"
	ipadUDID       = "663b07bb783e9ade1dae4fbb92ea12afc0ce5b69"
	imacUDID       = "66ADE930-5FDF-5EC4-8429-15640684C489"
	zentralMacUDID = "9353BC9A-5CF9-4C9E-9AD4-8D1E41D5FE3E"
)

var captures = []capture{
	{file: "fleet-docs/Authenticate.ue.plist", from: "fleet docs, iPhone12,1 iOS 18.2.1, account-driven User Enrollment", fast: true,
		typ: MessageAuthenticate, channel: Channel{ID: ueEnrollmentID, Type: UserEnrollmentDevice},
		check: func(t *testing.T, v any) {
			a := v.(*Authenticate)
			if a.ProductName != "iPhone12,1" || a.OSVersion != "18.2.1" || a.BuildVersion != "22C161" {
				t.Errorf("device facts %q %q %q", a.ProductName, a.OSVersion, a.BuildVersion)
			}
			if a.UDID != "" || a.SerialNumber != "" || a.IMEI != "" || a.MEID != "" || a.DeviceName != "" {
				t.Errorf("a User Enrollment Authenticate carries hardware identifiers: %+v", a)
			}
		}},
	{file: "fleet-docs/TokenUpdate.ue.plist", from: "fleet docs, iPhone12,1 iOS 18.2.1, account-driven User Enrollment", fast: true,
		typ: MessageTokenUpdate, channel: Channel{ID: ueEnrollmentID, Type: UserEnrollmentDevice},
		check: func(t *testing.T, v any) {
			u := v.(*TokenUpdate)
			if len(u.Token) != 32 || u.PushMagic != "7B8A04B0-E9B8-4BB3-8A85-4FD5FA1F70E9" || u.UnlockToken != nil || u.AwaitingConfiguration {
				t.Errorf("token %d bytes, magic %q, unlock token %d bytes", len(u.Token), u.PushMagic, len(u.UnlockToken))
			}
		}},
	{file: "fleet-docs/Idle.ue.plist", from: "fleet docs, iPhone12,1 iOS 18.2.1, account-driven User Enrollment", fast: true,
		status: StatusIdle, channel: Channel{ID: ueEnrollmentID, Type: UserEnrollmentDevice}},

	{file: "nanomdm/Authenticate.1.plist", from: "nanomdm mdm/testdata, iPad2,5 iOS 9.3.5", fast: true,
		typ: MessageAuthenticate, channel: Channel{ID: ipadUDID, Type: Device},
		check: func(t *testing.T, v any) {
			if a := v.(*Authenticate); a.SerialNumber != "F5JM992LF193" || a.ProductName != "iPad2,5" || a.OSVersion != "9.3.5" {
				t.Errorf("device facts %+v", a)
			}
		}},
	{file: "nanomdm/TokenUpdate.1.plist", from: "nanomdm mdm/testdata, iPad2,5 iOS 9.3.5", fast: true,
		typ: MessageTokenUpdate, channel: Channel{ID: ipadUDID, Type: Device},
		check: func(t *testing.T, v any) {
			u := v.(*TokenUpdate)
			if len(u.Token) != 32 || !bytes.HasPrefix(u.UnlockToken, []byte("DATA")) || len(u.UnlockToken) < 1000 {
				t.Errorf("token %d bytes, unlock token %d bytes", len(u.Token), len(u.UnlockToken))
			}
		}},
	{file: "nanomdm/Authenticate.2.plist", from: "nanomdm mdm/testdata, iMac14,2 macOS 10.12.6", fast: true,
		typ: MessageAuthenticate, channel: Channel{ID: imacUDID, Type: Device},
		check: func(t *testing.T, v any) {
			if a := v.(*Authenticate); a.Model != "iMac14,2" || a.ModelName != "iMac" || a.DeviceName != "Fruit" {
				t.Errorf("device facts %+v", a)
			}
		}},
	{file: "nanomdm/TokenUpdate.2.plist", from: "nanomdm mdm/testdata, iMac14,2 macOS 10.12.6", fast: true,
		typ: MessageTokenUpdate, channel: Channel{ID: imacUDID, Type: Device}},
	{file: "nanomdm/DeviceInformation.1.plist", from: "nanomdm mdm/testdata, iMac14,2 macOS 10.12.6",
		status: StatusAcknowledged, uuid: "76eda240-5488-4989-8339-f2ae160113c4", channel: Channel{ID: imacUDID, Type: Device}},
	{file: "nanomdm/mdm-signature.2.body.plist", from: "nanomdm cryptoutil_test.go, body of a signed Idle", fast: true,
		status: StatusIdle, channel: Channel{ID: "D4D56083-BFB0-5047-8BDF-2727BACDC59B", Type: Device}},

	{file: "nanocmd/resp-ack.plist", from: "nanocmd workflow/certprof/testdata", fast: true,
		status: StatusAcknowledged, uuid: "D053EE3A-EE0E-4E82-87D2-BB3624186694",
		channel: Channel{ID: "6362F867-FFF2-4EA6-905C-3C796DF4EF68", Type: Device}},
	{file: "nanocmd/resp-error.plist", from: "nanocmd workflow/certprof/testdata",
		status: StatusError, uuid: "D053EE3A-EE0E-4E82-87D2-BB3624186694",
		channel: Channel{ID: "6362F867-FFF2-4EA6-905C-3C796DF4EF68", Type: Device},
		check: func(t *testing.T, v any) {
			want := []ErrorChainItem{{ErrorCode: -909, ErrorDomain: "NSOSStatusErrorDomain", LocalizedDescription: " <NSOSStatusErrorDomain:-909>"}}
			if got := v.(*CommandResult).ErrorChain; !reflect.DeepEqual(got, want) {
				t.Errorf("ErrorChain %+v, want %+v", got, want)
			}
		}},

	{file: "micromdm/response.plist", from: "micromdm workflow/profile/inventory/testdata, a Mac",
		status: StatusAcknowledged, uuid: "1a82029c-4a30-46ca-9ca3-18a4daf5e3a9",
		channel: Channel{ID: "BC5E2DA4-7FB6-5E70-9928-4981680DAFBF", Type: Device}},

	{file: "zentral/device_information.plist", from: "zentral tests/mdm/testdata, macOS 13 VM",
		status: StatusAcknowledged, uuid: "02CD8B7A-465F-49E6-86D6-D3ACAAE5529E", channel: Channel{ID: zentralMacUDID, Type: Device}},
	{file: "zentral/security_info.plist", from: "zentral tests/mdm/testdata, macOS 13 VM",
		status: StatusAcknowledged, uuid: "9A105E87-EC35-4F65-A265-423CFB92D624", channel: Channel{ID: zentralMacUDID, Type: Device}},
	{file: "zentral/security_info_ios.plist", from: "zentral tests/mdm/testdata, iPhone",
		status: StatusAcknowledged, uuid: "9A105E87-EC35-4F65-A265-423CFB92D624",
		channel: Channel{ID: "cb48a725986c8b4e23b6ca68e5b6941d073c990f", Type: Device}},
	{file: "zentral/installed_application_list.plist", from: "zentral tests/mdm/testdata, macOS 13 VM",
		status: StatusAcknowledged, uuid: "E615AD27-A6DA-479A-AE17-FBCF754E1B31", channel: Channel{ID: zentralMacUDID, Type: Device}},
	{file: "zentral/managed_application_list.plist", from: "zentral tests/mdm/testdata",
		status: StatusAcknowledged, uuid: "79AEDFB0-686C-45AD-9F44-E92D36E4EEE0",
		channel: Channel{ID: "B79EE23C-F5C1-489E-ADC2-DB4A7B3D54FF", Type: Device}},
	{file: "zentral/certificate_list.plist", from: "zentral tests/mdm/testdata, iPhone",
		status: StatusAcknowledged, uuid: "0001-CertificateList", channel: Channel{ID: "00008020-000915083C80012E", Type: Device}},
	{file: "zentral/profile_list.plist", from: "zentral tests/mdm/testdata",
		status: StatusAcknowledged, uuid: "ABCC7D59-00FC-45DE-995A-296B119583E8",
		channel: Channel{ID: "7DD67F73-27DE-57B7-872F-C68FACCD9186", Type: Device}},
}

func readCapture(tb testing.TB, file string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "captures", file))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestCaptures decodes every real-device body through both decoders, the
// fast path and the general plist decoder, and through the public entry
// points: all agree on the typed message, its identifiers and its values,
// and User Enrollment bodies are recognised by their EnrollmentID alone.
func TestCaptures(t *testing.T) {
	for _, c := range captures {
		t.Run(c.file, func(t *testing.T) {
			body := readCapture(t, c.file)
			var fw wire
			if got := decodeFastXML(body, &fw); got != c.fast {
				t.Errorf("%s: fast path takes it = %v, want %v", c.from, got, c.fast)
			}
			var sw wire
			if err := decodePlist(body, &sw); err != nil {
				t.Fatalf("%s: general decoder: %v", c.from, err)
			}
			if c.fast {
				normalize := func(w *wire) {
					for _, p := range []*[]byte{&w.Token, &w.UnlockToken, &w.BootstrapToken, &w.Data} {
						if len(*p) == 0 {
							*p = nil
						}
					}
				}
				normalize(&fw)
				normalize(&sw)
				if !reflect.DeepEqual(fw, sw) {
					t.Fatalf("%s: the two decoders differ:\nfast %+v\nplist %+v", c.from, fw, sw)
				}
			}
			var slow, public any
			var err error
			var id Identifiers
			if c.typ != "" {
				m, serr := sw.checkin(body)
				if serr != nil {
					t.Fatalf("%s: %v", c.from, serr)
				}
				slow = m
				public, err = DecodeCheckin(body)
				h := m.CheckinHeader()
				if h.MessageType != c.typ {
					t.Errorf("%s: MessageType %q, want %q", c.from, h.MessageType, c.typ)
				}
				id = h.Identifiers
			} else {
				r, serr := sw.result(body)
				if serr != nil {
					t.Fatalf("%s: %v", c.from, serr)
				}
				slow = r
				public, err = DecodeCommandResult(body)
				if r.Status != c.status || r.CommandUUID != c.uuid {
					t.Errorf("%s: Status %q CommandUUID %q, want %q %q", c.from, r.Status, r.CommandUUID, c.status, c.uuid)
				}
				if !bytes.Equal(r.Raw, body) {
					t.Errorf("%s: Raw is not the body", c.from)
				}
				id = r.Identifiers
			}
			if err != nil {
				t.Fatalf("%s: public decoder: %v", c.from, err)
			}
			if !reflect.DeepEqual(public, slow) {
				t.Fatalf("%s: public decoder and general decoder differ:\n%+v\n%+v", c.from, public, slow)
			}
			if either, err := decode(body); err != nil || !reflect.DeepEqual(either, slow) {
				t.Fatalf("%s: decode = %+v, %v", c.from, either, err)
			}
			ch, err := id.Resolve()
			if err != nil || ch != c.channel {
				t.Fatalf("%s: channel %+v (%v), want %+v", c.from, ch, err, c.channel)
			}
			if ch.Type.IsUserEnrollment() != (id.EnrollmentID != "") || (ch.Type.IsUserEnrollment() && id.UDID != "") {
				t.Errorf("%s: enrollment type %s for UDID %q EnrollmentID %q", c.from, ch.Type, id.UDID, id.EnrollmentID)
			}
			if c.check != nil {
				c.check(t, slow)
			}
		})
	}
}

// A signatureCapture is an Mdm-Signature header value a device sent, and
// the body it signs when upstream kept it.
type signatureCapture struct {
	sig, body string // under testdata/captures; body "" when unknown
	from      string
	issuer    string // the signer certificate's issuer CN
}

var signatureCaptures = []signatureCapture{
	{sig: "nanomdm/mdm-signature.1.b64", from: "nanomdm cryptoutil_test.go mdmSignatureHeader1", issuer: "MDM CA"},
	{sig: "nanomdm/mdm-signature.2.b64", body: "nanomdm/mdm-signature.2.body.plist", from: "nanomdm cryptoutil_test.go mdmSignatureHeader2", issuer: "ca"},
}

// decodeHeader returns the DER or BER of an Mdm-Signature header value.
func decodeHeader(tb testing.TB, file string) []byte {
	tb.Helper()
	sig, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(readCapture(tb, file))))
	if err != nil {
		tb.Fatal(err)
	}
	return sig
}

// TestCaptureSignatures verifies real devices' Mdm-Signature headers: BER
// with indefinite lengths, SHA-1 with RSA, no signed attributes. Where the
// body is known the signature verifies and a changed body does not; where it
// is not, the signer's certificate is still found and the failure is the
// signature check itself.
func TestCaptureSignatures(t *testing.T) {
	for _, c := range signatureCaptures {
		t.Run(c.sig, func(t *testing.T) {
			sig := decodeHeader(t, c.sig)
			sd, err := parseSignedData(sig, DefaultMaxSignatureBytes)
			if err != nil {
				t.Fatalf("%s: %v", c.from, err)
			}
			h, _, err := hashFor(sd.signers[0].digestAlg)
			if err != nil || h != crypto.SHA1 || sd.signers[0].hasAttrs || !sd.converted || sd.content != nil {
				t.Errorf("%s: digest %v (%v), signed attributes %v, BER %v, encapsulated %d bytes; want a detached SHA-1 signature in BER without attributes",
					c.from, h, err, sd.signers[0].hasAttrs, sd.converted, len(sd.content))
			}
			if c.body == "" {
				_, _, err := VerifySignature(sig, []byte("not the signed body"))
				if !errors.Is(err, ErrBadSignature) || errors.Is(err, ErrNoCertificate) {
					t.Fatalf("%s: over another body: %v, want a failed signature check", c.from, err)
				}
				return
			}
			body := readCapture(t, c.body)
			leaf, certs, err := VerifySignature(sig, body)
			if err != nil {
				t.Fatalf("%s: %v", c.from, err)
			}
			if leaf.Issuer.CommonName != c.issuer || len(certs) != 1 {
				t.Errorf("%s: signer issued by %q, %d certificates", c.from, leaf.Issuer.CommonName, len(certs))
			}
			changed := bytes.Replace(body, []byte("Idle"), []byte("Idla"), 1)
			if _, _, err := VerifySignature(sig, changed); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("%s: a changed body verified: %v", c.from, err)
			}
		})
	}
}

// captureSeeds returns every captured body and signature, the fuzz targets'
// real-device seeds.
func captureSeeds(f *testing.F) (bodies, sigs [][]byte) {
	f.Helper()
	for _, c := range captures {
		bodies = append(bodies, readCapture(f, c.file))
	}
	for _, c := range signatureCaptures {
		sigs = append(sigs, decodeHeader(f, c.sig))
	}
	return bodies, sigs
}
