package enrollkittest_test

import (
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enrollkittest"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/profile"
)

// credentialDeclarations are an ACME credential asset, a
// Security:Identity configuration installing it (allowed under User
// Enrollment) and the activation of that configuration.
func credentialDeclarations(srv *enrollkittest.Server) []*ddm.Declaration {
	return []*ddm.Declaration{
		srv.ACMECredentialAsset("corp-identity"),
		{Identifier: "corp-identity-config", Type: "com.apple.configuration.security.identity",
			Payload: json.RawMessage(`{"CredentialAssetReference": "corp-identity"}`)},
		{Identifier: "corp-identity-activation", Type: "com.apple.activation.simple",
			Payload: json.RawMessage(`{"StandardConfigurations": ["corp-identity-config"]}`)},
	}
}

// assignCredential puts the credential declarations (once) and assigns
// them to d's enrollment, and has d sync.
func assignCredential(t *testing.T, srv *enrollkittest.Server, d *devicesim.Device) mdm.EnrollmentID {
	t.Helper()
	ctx := t.Context()
	for _, decl := range credentialDeclarations(srv) {
		if err := srv.DDM.PutDeclaration(ctx, decl); err != nil {
			t.Fatalf("PutDeclaration(%s): %v", decl.Identifier, err)
		}
	}
	enr, _ := d.Enrollment()
	id := mdm.EnrollmentID(enr.EnrollmentID)
	if err := srv.DDM.Assign(ctx, ddm.Assignment{Enrollment: id, Declarations: []string{"corp-identity-activation"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.SyncDeclarations(ctx); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestACMECredentialAsset offers an attested ACME credential through
// declarative management in both flows: the device downloads the
// credential document, obtains a certificate from the server's CA for its
// attested Secure Enclave key and reports the asset and the configuration
// valid; the identifier cannot be used again by another enrollment; and
// the credential is not the device's MDM identity.
func TestACMECredentialAsset(t *testing.T) {
	srv := enrollkittest.NewServer(t, enrollkittest.Options{ACME: true})
	tests := []struct {
		name          string
		opts          devicesim.Options
		accountDriven bool
	}{
		{"iOS 17 profile-based", devicesim.Options{OSVersion: "17.5.1"}, false},
		{"iOS 18 account-driven", devicesim.Options{ProductName: "iPhone17,1", OSVersion: "18.2.1", BuildVersion: "22C161"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			inv := srv.Invite(t, enrollkittest.DemoUser)
			d := srv.NewDeviceWith(t, tt.opts)
			if err := enrollDevice(ctx, srv, d, inv, tt.accountDriven); err != nil {
				t.Fatal(err)
			}
			before, err := srv.Enroll.Get(ctx, inv.EnrollmentID)
			if err != nil {
				t.Fatal(err)
			}
			id := assignCredential(t, srv, d)

			held := d.Declarations()
			asset, config := held["corp-identity"], held["corp-identity-config"]
			if asset.Valid != "valid" || asset.Certificate == nil || config.Valid != "valid" || !config.Active {
				t.Fatalf("asset %+v, configuration %+v", asset, config)
			}
			if err := asset.Certificate.CheckSignatureFrom(srv.CA.Certificate); err != nil {
				t.Fatalf("credential not issued by the CA: %v", err)
			}
			key, ok := asset.Key.(*ecdsa.PrivateKey)
			if !ok || key.Curve.Params().BitSize != 384 || !key.PublicKey.Equal(asset.Certificate.PublicKey) {
				t.Fatalf("credential key %T does not match the certificate, or is not P-384", asset.Key)
			}
			st, err := srv.DDM.Status(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, ident := range []string{"corp-identity", "corp-identity-config"} {
				if got := st.Declarations[ident]; got.Valid != "valid" || !got.Active {
					t.Fatalf("reported status of %s: %+v", ident, got)
				}
			}
			var doc struct{ DirectoryURL, ClientIdentifier string }
			if err := json.Unmarshal(asset.Data, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.DirectoryURL != srv.URL+"/acme-credential/directory" || len(doc.ClientIdentifier) < len(acme.CredentialPrefix)+43 {
				t.Fatalf("credential document %s", asset.Data)
			}

			// The credential is not the MDM identity: the enrollment keeps
			// its certificate, check-ins with the credential are refused,
			// and the identity still checks in.
			enr, _ := d.Enrollment()
			after, err := srv.Enroll.Get(ctx, inv.EnrollmentID)
			if err != nil {
				t.Fatal(err)
			}
			if after.CertificateHash != before.CertificateHash || after.CertificateHash != mdm.FingerprintOf(enr.Certificate.Raw).String() {
				t.Fatalf("MDM identity changed: %q, was %q", after.CertificateHash, before.CertificateHash)
			}
			if status := tokenUpdate(t, srv, enr, asset.Certificate, asset.Key); status != http.StatusForbidden {
				t.Fatalf("check-in with the credential answered %d, want 403", status)
			}
			if status := tokenUpdate(t, srv, enr, enr.Certificate, enr.Key); status != http.StatusOK {
				t.Fatalf("check-in with the identity answered %d, want 200", status)
			}
			rec, err := srv.MDM.Enrollment(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Certificate != mdm.FingerprintOf(enr.Certificate.Raw) {
				t.Fatal("mdm's record now names another certificate")
			}

			// A download gives a fresh identifier, which a HEAD in
			// between does not void.
			status, data := assetRequest(t, srv, enr, http.MethodGet, srv.AssetURL("corp-identity"))
			var fresh struct{ ClientIdentifier string }
			if status != http.StatusOK || json.Unmarshal(data, &fresh) != nil || fresh.ClientIdentifier == doc.ClientIdentifier {
				t.Fatalf("second download: %d %s", status, data)
			}
			if status, _ := assetRequest(t, srv, enr, http.MethodHead, srv.AssetURL("corp-identity")); status != http.StatusOK {
				t.Fatalf("HEAD: %d", status)
			}
			second := &profile.ACME{DirectoryURL: doc.DirectoryURL, ClientIdentifier: fresh.ClientIdentifier, KeySize: 384,
				KeyType: profile.KeyTypeEC, HardwareBound: true, Attest: true, Subject: profile.CommonName("second")}
			if cert, _, err := d.EnrollACME(ctx, second); err != nil || cert == nil {
				t.Fatalf("the fresh identifier after a HEAD: %v", err)
			}

			// Another enrollment's device replays the identifier: refused,
			// nothing issued.
			invB := srv.Invite(t, enrollkittest.DemoUser)
			other := srv.NewDeviceWith(t, tt.opts)
			if err := enrollDevice(ctx, srv, other, invB, tt.accountDriven); err != nil {
				t.Fatal(err)
			}
			replay := &profile.ACME{DirectoryURL: doc.DirectoryURL, ClientIdentifier: doc.ClientIdentifier, KeySize: 384,
				KeyType: profile.KeyTypeEC, HardwareBound: true, Attest: true, Subject: profile.CommonName("replay")}
			cert, _, err := other.EnrollACME(ctx, replay)
			var ae *devicesim.ACMEError
			if cert != nil || !errors.As(err, &ae) || ae.StatusCode != http.StatusForbidden {
				t.Fatalf("replayed identifier: certificate %v, error %v", cert != nil, err)
			}
			// Nor does the credential identifier get an MDM identity.
			replay.DirectoryURL = srv.URL + "/acme/directory"
			if cert, _, err := other.EnrollACME(ctx, replay); cert != nil || !errors.As(err, &ae) {
				t.Fatalf("credential identifier at the identity endpoint: certificate %v, error %v", cert != nil, err)
			}
		})
	}
}

// assetRequest sends a request for asset data as enr's device does, with
// its MDM identity, and returns the status and body.
func assetRequest(t *testing.T, srv *enrollkittest.Server, enr devicesim.Enrollment, method, u string) (int, []byte) {
	t.Helper()
	sig, err := devicesim.MdmSignature(nil, enr.Certificate, enr.Key, devicesim.SignatureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Mdm-Signature", sig)
	if enr.AccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+enr.AccessToken)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}
