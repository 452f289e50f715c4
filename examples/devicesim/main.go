// Command devicesim runs a simulated iPhone against an enrollment server:
// it follows an invitation link (profile-based User Enrollment) or signs in
// with a Managed Apple Account (account-driven User Enrollment), installs the
// profile, then polls the server for commands until interrupted, and checks
// out on exit.
//
//	go run ./examples/devicesim -invite URL -user NAME -password PW -passcode CODE -ca DATA/ca.pem
//	go run ./examples/devicesim -account NAME@DOMAIN -base-url URL -user NAME -password PW -passcode CODE -ca DATA/ca.pem
//	go run ./examples/devicesim device-ca -device-ca FILE
//	go run ./examples/devicesim attestation-root -attestation-root FILE
//
// With no push service the device polls every -poll interval; -once stops
// after the first poll. The device identity that signs account-driven
// requests comes from the -device-ca file (created when missing); configure
// the server to trust the root printed by the device-ca subcommand. A
// profile with an ACME identity (the example server's -acme) is answered
// with a key attested under the -attestation-root file's test root
// (created when missing), which the server must be told to trust
// (-acme-attestation-root) with the root the attestation-root subcommand
// writes.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/enrollkit/enrollkit/acme/acmetest"
	"github.com/enrollkit/enrollkit/devicesim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "devicesim:", err)
		}
		os.Exit(1)
	}
}

type config struct {
	invite, account, baseURL string
	invitation               string
	creds                    devicesim.Credentials
	caFile, deviceCAFile     string
	attestationRootFile      string
	allowHTTP, once          bool
	checkout                 bool
	poll                     time.Duration
	logLevel                 string
	product, osVersion       string
}

func parse(args []string, stderr io.Writer) (*config, []string, error) {
	c := &config{}
	fs := flag.NewFlagSet("devicesim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: devicesim [flags]                   enroll and poll\n"+
			"       devicesim [flags] device-ca         create the device CA and print its root\n"+
			"       devicesim [flags] attestation-root  create the attestation root and print its certificate")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.invite, "invite", "", "invitation URL (profile-based User Enrollment)")
	fs.StringVar(&c.invitation, "invitation", "", "file (- for standard input) holding the JSON object `portal invite` prints; sets -invite and -passcode")
	fs.StringVar(&c.account, "account", "", "Managed Apple Account (account-driven User Enrollment)")
	fs.StringVar(&c.baseURL, "base-url", "", "URL of the server answering the well-known request (default: https://<domain of -account>)")
	fs.StringVar(&c.creds.Username, "user", "", "corporate user name typed on the portal")
	fs.StringVar(&c.creds.Password, "password", "", "corporate password")
	fs.StringVar(&c.creds.Passcode, "passcode", "", "one-time enrollment passcode from the invitation")
	fs.StringVar(&c.caFile, "ca", "", "PEM file of CA certificates to trust for the server's TLS certificate and the profile signature")
	fs.StringVar(&c.deviceCAFile, "device-ca", "devicesim-device-ca.pem", "file holding the simulated Apple device CA (created if missing)")
	fs.StringVar(&c.attestationRootFile, "attestation-root", "devicesim-attestation-root.pem", "file holding the test root the simulated device attests ACME keys under (created if missing)")
	fs.BoolVar(&c.allowHTTP, "allow-http", false, "accept profiles with http:// MDM URLs (local servers only; real devices refuse them)")
	fs.DurationVar(&c.poll, "poll", 10*time.Second, "how often to poll for commands")
	fs.BoolVar(&c.once, "once", false, "poll once after enrolling, then exit")
	fs.BoolVar(&c.checkout, "checkout", true, "send CheckOut (remove the enrollment) on exit")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.product, "product", "", `hardware model: "iPhone15,4" (default), "iPad16,3", or a Mac such as "Mac14,2" (device and user channel)`)
	fs.StringVar(&c.osVersion, "os", "", `OS release, such as "17.5.1" (default) or "26.1"; iOS 18 and macOS 15 or later enroll only with -account`)
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	return c, fs.Args(), nil
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c, rest, err := parse(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ca, created, err := loadOrCreate(c.deviceCAFile, devicesim.LoadDeviceCA, devicesim.NewDeviceCA)
	if err != nil {
		return err
	}
	attest, attestCreated, err := loadOrCreate(c.attestationRootFile, acmetest.LoadRoot,
		func() (*acmetest.Root, error) { return acmetest.NewRoot("devicesim attestation") })
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		var file, what string
		var rootPEM []byte
		switch {
		case len(rest) > 1:
		case rest[0] == "device-ca":
			file, what, rootPEM = c.deviceCAFile, "device CA", ca.RootPEM()
		case rest[0] == "attestation-root":
			file, what, rootPEM, created = c.attestationRootFile, "attestation root", attest.RootPEM(), attestCreated
		}
		if file == "" {
			return fmt.Errorf("unknown arguments %q", rest)
		}
		rootFile := strings.TrimSuffix(file, filepath.Ext(file)) + "-root.pem"
		if err := os.WriteFile(rootFile, rootPEM, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s (created: %v)\nroot for servers to trust: %s\n", what, file, created, rootFile)
		return nil
	}
	if c.invitation != "" {
		if err := readInvitation(c, stdin); err != nil {
			return err
		}
	}
	if (c.invite == "") == (c.account == "") {
		return errors.New("give exactly one of -invite and -account")
	}

	opts := devicesim.Options{Logger: logger, DeviceCA: ca, AttestationRoot: attest, AllowInsecureURLs: c.allowHTTP, ProductName: c.product, OSVersion: c.osVersion}
	if c.caFile != "" {
		pemData, err := os.ReadFile(c.caFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return fmt.Errorf("%s holds no PEM certificate", c.caFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.RootCAs = pool
		opts.HTTPClient = &http.Client{Transport: tr, Timeout: time.Minute}
		opts.ProfileRoots = pool
	}
	phone, err := devicesim.New(opts)
	if err != nil {
		return err
	}
	if c.invite != "" {
		err = phone.EnrollWithInvitation(ctx, c.invite, c.creds)
	} else {
		err = phone.EnrollWithAccount(ctx, c.account, c.baseURL, c.creds)
	}
	if err != nil {
		return err
	}
	enr, _ := phone.Enrollment()
	summary, _ := json.Marshal(map[string]any{
		"enrollment_id": enr.EnrollmentID, "managed_apple_id": enr.ManagedAppleID,
		"account_driven": enr.AccountDriven, "server_url": enr.ServerURL,
	})
	fmt.Fprintf(stdout, "%s\n", summary)

	defer func() {
		if !c.checkout {
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := phone.Remove(cctx); err != nil {
			logger.Error("check-out failed", "err", err)
			return
		}
		fmt.Fprintln(stdout, "checked out")
	}()
	ticker := time.NewTicker(c.poll)
	defer ticker.Stop()
	for {
		n, err := phone.Poll(ctx)
		if err != nil && ctx.Err() == nil {
			logger.Warn("poll failed", "err", err)
		}
		if n > 0 {
			for _, r := range phone.Commands()[len(phone.Commands())-n:] {
				fmt.Fprintf(stdout, "answered %s %s: %s\n", r.RequestType, r.CommandUUID, r.Status)
			}
		}
		if c.once {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// loadOrCreate reads a test authority (the device CA, the attestation
// root) from path with load, first creating it with create and writing
// it there, private to its owner, if the file does not exist.
func loadOrCreate[T interface{ MarshalPEM() ([]byte, error) }](path string, load func([]byte) (T, error), create func() (T, error)) (T, bool, error) {
	var zero T
	data, err := os.ReadFile(path)
	if err == nil {
		v, err := load(data)
		return v, false, err
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return zero, false, err
	}
	v, err := create()
	if err != nil {
		return zero, false, err
	}
	out, err := v.MarshalPEM()
	if err != nil {
		return zero, false, err
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return zero, false, err
	}
	return v, true, nil
}

// readInvitation takes the invitation URL and passcode from the JSON object
// that `portal invite` prints, so the two commands can be piped together.
func readInvitation(c *config, stdin io.Reader) error {
	var r io.Reader = stdin
	if c.invitation != "-" {
		f, err := os.Open(c.invitation)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	var inv struct {
		URL      string `json:"url"`
		Passcode string `json:"passcode"`
	}
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&inv); err != nil {
		return fmt.Errorf("-invitation: %w", err)
	}
	if inv.URL == "" || inv.Passcode == "" {
		return errors.New("-invitation: the JSON object has no url or passcode")
	}
	if c.invite == "" {
		c.invite = inv.URL
	}
	if c.creds.Passcode == "" {
		c.creds.Passcode = inv.Passcode
	}
	return nil
}
