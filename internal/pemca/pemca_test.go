package pemca_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/acme/acmetest"
	"github.com/enrollkit/enrollkit/devicesim"
)

func TestRoundTrip(t *testing.T) {
	ca, err := devicesim.NewDeviceCA()
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := ca.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := devicesim.LoadDeviceCA(caPEM)
	if err != nil || !back.Root.Equal(ca.Root) || !back.Intermediate.Equal(ca.Intermediate) {
		t.Fatalf("device CA round trip: %v", err)
	}
	root, err := acmetest.NewRoot("test")
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, err := root.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	r2, err := acmetest.LoadRoot(rootPEM)
	if err != nil || !r2.Certificate.Equal(root.Certificate) || !r2.Intermediate.Equal(root.Intermediate) {
		t.Fatalf("attestation root round trip: %v", err)
	}
	other, _ := acmetest.NewRoot("other")
	otherPEM, _ := other.MarshalPEM()
	// blocks splits PEM data into its blocks, each in its own copy.
	blocks := func(b []byte) [][]byte {
		var out [][]byte
		for _, part := range bytes.SplitAfter(b, []byte("-----\n")) {
			if bytes.HasPrefix(part, []byte("-----BEGIN")) || len(out) == 0 {
				out = append(out, slices.Clone(part))
			} else {
				out[len(out)-1] = append(out[len(out)-1], part...)
			}
		}
		return out
	}
	r, o := blocks(rootPEM), blocks(otherPEM) // root, intermediate, key
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "want 2 certificates and 1 keys"},
		{"no key", slices.Concat(r[0], r[1]), "want 2 certificates and 1 keys"},
		{"another root's key", slices.Concat(r[0], r[1], o[2]), "keys do not match"},
		{"intermediate of another root", slices.Concat(r[0], o[1], o[2]), "not issued by"},
		{"device CA as attestation root", caPEM, "want 2 certificates and 1 keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := acmetest.LoadRoot(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadRoot = %v, want an error with %q", err, tc.want)
			}
		})
	}
}
