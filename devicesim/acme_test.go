package devicesim_test

import (
	"errors"
	"testing"

	"github.com/enrollkit/enrollkit/acme/acmetest"
	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/profile"
)

// TestACMERefusedByRelease checks the ACME payloads a device refuses
// before it speaks to the server, as its release would.
func TestACMERefusedByRelease(t *testing.T) {
	root, err := acmetest.NewRoot("test attestation root")
	if err != nil {
		t.Fatal(err)
	}
	attested := profile.ACME{DirectoryURL: "https://unused.invalid/acme/directory", ClientIdentifier: "acme.x",
		KeyType: profile.KeyTypeEC, KeySize: 384, HardwareBound: true, Attest: true, Subject: profile.CommonName("x")}
	software := attested
	software.HardwareBound, software.Attest = false, false
	rsaBound := attested
	rsaBound.KeyType, rsaBound.KeySize = profile.KeyTypeRSA, 2048
	tests := []struct {
		name    string
		opts    devicesim.Options
		payload profile.ACME
		want    error
	}{
		{"iOS 15 knows no ACME payload", devicesim.Options{OSVersion: "15.8"}, attested, devicesim.ErrProfileInvalid},
		{"macOS 13.0 knows no ACME payload", devicesim.Options{ProductName: "Mac14,2", OSVersion: "13.0"}, attested, devicesim.ErrProfileInvalid},
		{"macOS 13.6 cannot attest", devicesim.Options{ProductName: "Mac14,2", OSVersion: "13.6"}, attested, devicesim.ErrProfileInvalid},
		{"hardware-bound RSA", devicesim.Options{}, rsaBound, devicesim.ErrProfileInvalid},
		{"no attestation asked", devicesim.Options{}, software, devicesim.ErrProfileInvalid},
		{"no attestation root", devicesim.Options{}, attested, devicesim.ErrNoAttestationRoot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want != devicesim.ErrNoAttestationRoot {
				tt.opts.AttestationRoot = root
			}
			d, err := devicesim.New(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = d.EnrollACME(t.Context(), &tt.payload)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
