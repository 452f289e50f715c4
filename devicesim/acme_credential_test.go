package devicesim_test

import (
	"encoding/json"
	"testing"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enrollkittest"
	"github.com/enrollkit/enrollkit/mdm"
)

// TestACMECredentialRefused checks that a device refuses an ACME
// credential asset it cannot resolve, obtains nothing, and reports the
// asset and the configuration referencing it invalid with a reason.
func TestACMECredentialRefused(t *testing.T) {
	srv := enrollkittest.NewServer(t, enrollkittest.Options{ACME: true})
	ctx := t.Context()
	for _, d := range []*ddm.Declaration{
		srv.ACMECredentialAsset("corp-identity"),
		{Identifier: "corp-identity-config", Type: "com.apple.configuration.security.identity",
			Payload: json.RawMessage(`{"CredentialAssetReference": "corp-identity"}`)},
		{Identifier: "corp-identity-activation", Type: "com.apple.activation.simple",
			Payload: json.RawMessage(`{"StandardConfigurations": ["corp-identity-config"]}`)},
	} {
		if err := srv.DDM.PutDeclaration(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		opts       devicesim.Options
		dropRoot   bool
		wantReason string
	}{
		{"no attestation root", devicesim.Options{OSVersion: "17.5.1"}, true, devicesim.ReasonACMECredentialNoAttestation},
		{"hardware-bound key on a Mac", devicesim.Options{ProductName: "Mac14,2", OSVersion: "14.6", BuildVersion: "23G80"}, false,
			devicesim.ReasonACMECredentialUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := srv.Invite(t, enrollkittest.DemoUser)
			d := srv.NewDeviceWith(t, tt.opts)
			if err := d.EnrollWithInvitation(ctx, inv.URL, enrollkittest.DemoCredentials(inv)); err != nil {
				t.Fatal(err)
			}
			if tt.dropRoot {
				devicesim.DropAttestationRoot(d)
			}
			enr, _ := d.Enrollment()
			id := mdm.EnrollmentID(enr.EnrollmentID)
			if err := srv.DDM.Assign(ctx, ddm.Assignment{Enrollment: id, Declarations: []string{"corp-identity-activation"}}); err != nil {
				t.Fatal(err)
			}
			if err := d.SyncDeclarations(ctx); err != nil {
				t.Fatal(err)
			}
			held := d.Declarations()
			asset, config := held["corp-identity"], held["corp-identity-config"]
			if asset.Certificate != nil || asset.Valid != "invalid" || asset.Reason != tt.wantReason {
				t.Fatalf("asset: valid %q, reason %q (%s), certificate %v", asset.Valid, asset.Reason, asset.Detail, asset.Certificate != nil)
			}
			if config.Valid != "invalid" || config.Active || config.Reason != devicesim.ReasonAssetInvalid {
				t.Fatalf("configuration: %+v", config)
			}
			st, err := srv.DDM.Status(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			got := st.Declarations["corp-identity"]
			if got.Valid != "invalid" || len(got.Reasons) != 1 || got.Reasons[0].Code != tt.wantReason {
				t.Fatalf("reported status of the asset: %+v", got)
			}
		})
	}
}
