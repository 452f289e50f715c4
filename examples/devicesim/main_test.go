package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/devicesim"
)

// TestAuthoritySubcommands: device-ca and attestation-root create their
// authority once, keep it, and write only its root certificate for the
// server.
func TestAuthoritySubcommands(t *testing.T) {
	for _, sub := range []string{"device-ca", "attestation-root"} {
		t.Run(sub, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{"device-ca": filepath.Join(dir, "ca.pem"), "attestation-root": filepath.Join(dir, "attest.pem")}
			var out bytes.Buffer
			var kept []byte
			for i, wantCreated := range []string{"created: true", "created: false"} {
				out.Reset()
				if err := run(context.Background(), []string{"-device-ca", files["device-ca"], "-attestation-root", files["attestation-root"], sub}, nil, &out, io.Discard); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(out.String(), wantCreated) {
					t.Errorf("run %d: %q lacks %q", i, out.String(), wantCreated)
				}
				data, err := os.ReadFile(files[sub])
				if err != nil || (kept != nil && !bytes.Equal(data, kept)) {
					t.Fatalf("run %d: the authority's file changed or is missing: %v", i, err)
				}
				kept = data
			}
			root, err := os.ReadFile(strings.TrimSuffix(files[sub], ".pem") + "-root.pem")
			if err != nil || !bytes.Contains(root, []byte("BEGIN CERTIFICATE")) || bytes.Contains(root, []byte("PRIVATE KEY")) {
				t.Fatalf("root file: %v\n%s", err, root)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusGone)
		io.WriteString(w, `<p role="alert">This invitation has expired.</p>`)
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	ar := filepath.Join(t.TempDir(), "attestation-root.pem")
	for _, tc := range []struct {
		name string
		args []string
		want func(error) bool
	}{
		{"no flow", []string{"-device-ca", ca, "-attestation-root", ar}, func(err error) bool { return err != nil && strings.Contains(err.Error(), "exactly one") }},
		{"both flows", []string{"-device-ca", ca, "-attestation-root", ar, "-invite", "x", "-account", "a@b"}, func(err error) bool { return err != nil }},
		{"bad flag", []string{"-nope"}, func(err error) bool { return err != nil }},
		{"bad log level", []string{"-log-level", "loud"}, func(err error) bool { return err != nil }},
		{"unknown subcommand", []string{"-device-ca", ca, "-attestation-root", ar, "frobnicate"}, func(err error) bool { return err != nil }},
		{"missing -ca file", []string{"-device-ca", ca, "-attestation-root", ar, "-invite", srv.URL, "-ca", filepath.Join(t.TempDir(), "none.pem")}, func(err error) bool { return errors.Is(err, os.ErrNotExist) }},
		{"expired invitation", []string{"-device-ca", ca, "-attestation-root", ar, "-invite", srv.URL + "/invitation/x"}, func(err error) bool {
			var pe *devicesim.PortalError
			return errors.As(err, &pe) && pe.StatusCode == http.StatusGone && pe.Message == "This invitation has expired."
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, nil, io.Discard, io.Discard)
			if !tc.want(err) {
				t.Errorf("run = %v", err)
			}
		})
	}
}

// TestDeviceFlags: -product and -os choose the simulated device, as the
// User-Agent of its first portal request shows.
func TestDeviceFlags(t *testing.T) {
	var ua string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua = r.UserAgent()
		http.Error(w, "gone", http.StatusGone)
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	ar := filepath.Join(t.TempDir(), "attestation-root.pem")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"iPhone OS 17_5_1", "Version/17.5"}},
		{[]string{"-product", "iPhone18,1", "-os", "26.1"}, []string{"iPhone OS 18_6", "Version/26.1"}},
		{[]string{"-product", "Mac14,2", "-os", "15.1"}, []string{"Macintosh", "Version/18.1"}},
	} {
		args := append([]string{"-device-ca", ca, "-attestation-root", ar, "-invite", srv.URL + "/invitation/x"}, tc.args...)
		if err := run(context.Background(), args, nil, io.Discard, io.Discard); err == nil {
			t.Fatalf("%v: run succeeded against a 410", tc.args)
		}
		for _, w := range tc.want {
			if !strings.Contains(ua, w) {
				t.Errorf("%v: User-Agent %q lacks %q", tc.args, ua, w)
			}
		}
	}
}
