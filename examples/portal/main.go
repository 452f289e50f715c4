// Command portal is a complete User Enrollment server built from enrollkit's
// packages, running on embedded defaults:
//
//	go run ./examples/portal
//
// On first start it creates a data directory (-data, default
// ./enrollkit-data) with a SQLite database, a development certificate
// authority, a profile-signing certificate and a TLS certificate. It serves
// the enrollment portal (profile-based User Enrollment), account-driven User
// Enrollment (.well-known discovery and the BaseURL), the MDM check-in and
// command endpoints (GetToken included: com.apple.maid tokens signed with
// -abm-key, or a development key), a SCEP server whose challenges are the
// single-use, per-enrollment ones of package enroll (or, with -acme, an
// ACME server issuing hardware-bound identities against Apple's device
// attestation for the same single-use identifiers), and a small admin API.
//
// Demo users and invitations are made from the command line:
//
//	go run ./examples/portal adduser -user alice -password secret -managed-apple-id alice@example.com
//	go run ./examples/portal invite -user alice
//
// invite prints one JSON object with the invitation's url, passcode and
// expires_at, and writes the invitation, with a QR code, into the data
// directory; a running server shows it on its terminal (standard output,
// apart from the log on standard error; see -show-invitations).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "portal:", err)
		os.Exit(1)
	}
}

// config is everything the flags set.
type config struct {
	Listen            string
	PublicURL         string
	Data              string
	TLS               bool
	APNSURL           string
	APNSCA            string
	DeviceCARoot      string
	Postgres          string
	PostgresSchema    string
	PushCert          string
	PushKey           string
	ABMKey            string
	ABMServerUUID     string
	VaultPasswordFile string
	Organization      string
	LogLevel          string
	ShowInvitations   bool
	WebhookURL        string
	WebhookSecretFile string
	SweepInterval     time.Duration
	ACME              bool
	ACMERoot          string
	ACMEFallback      bool

	// publicURLSet records that -public-url was given, not derived.
	publicURLSet bool
}

const usageText = `usage:
  portal [flags]                        run the enrollment server
  portal [flags] adduser -user NAME -password PW -managed-apple-id ID
  portal [flags] invite -user NAME      print {"url","passcode","expires_at"}

flags:
`

func parseFlags(args []string, stderr io.Writer) (config, []string, error) {
	var c config
	fs := flag.NewFlagSet("portal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&c.PublicURL, "public-url", "", "URL devices reach the server at (default: derived from -listen and -tls)")
	fs.StringVar(&c.Data, "data", "enrollkit-data", "data directory (database, certificates, invitations)")
	fs.BoolVar(&c.TLS, "tls", false, "serve https with the generated TLS certificate")
	fs.StringVar(&c.APNSURL, "apns-url", "", "APNs base URL (default: Apple's production service)")
	fs.StringVar(&c.APNSCA, "apns-ca", "", "PEM file of a CA to trust for -apns-url besides the system roots (a local APNs stand-in)")
	fs.StringVar(&c.DeviceCARoot, "device-ca-root", "", "PEM file of the root that account-driven enrollment requests must be signed under (Apple's device CA in production; the file `devicesim device-ca` writes in tests). Default: Apple's device CAs, pinned")
	fs.StringVar(&c.Postgres, "postgres", "", "PostgreSQL DSN: keep state there instead of the SQLite file in -data, so several replicas (sharing -data for keys and certificates) can serve together")
	fs.StringVar(&c.PostgresSchema, "postgres-schema", "", "PostgreSQL schema to keep the tables in (created if missing), so installations can share a database")
	fs.StringVar(&c.PushCert, "push-cert", "", "MDM push certificate: PEM (with key), PKCS#12 (password in $ENROLLKIT_PUSH_CERT_PASSWORD), or either inside an Ansible Vault file")
	fs.StringVar(&c.PushKey, "push-key", "", "private key of the push certificate, if not in -push-cert")
	fs.StringVar(&c.ABMKey, "abm-key", "", "private key of the MDM server's certificate registered in Apple Business Manager (PEM, PKCS#12 or either inside an Ansible Vault file): "+
		"signs the com.apple.maid tokens GetToken asks for when Managed Apple Accounts may sign in on managed devices only. Needs -abm-server-uuid. "+
		"Default: a development key in DATA/pki (abm-server.pem is its certificate, to register in Apple Business Manager)")
	fs.StringVar(&c.ABMServerUUID, "abm-server-uuid", "", "server_uuid Apple Business Manager reports for that MDM server (AccountDetail). Default: a development UUID in DATA/pki")
	fs.StringVar(&c.VaultPasswordFile, "vault-password-file", "", "file holding the Ansible Vault password for vaulted credentials")
	fs.StringVar(&c.Organization, "org", "Example Corp", "organization name shown on the portal and in profiles")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error (the log goes to standard error)")
	fs.BoolVar(&c.ShowInvitations, "show-invitations", true, "show every invitation (link, passcode, QR code) on standard output, the server's terminal, "+
		"also those the invite command makes while the server runs. Invitations hold secrets, so they never go to the log (standard error); "+
		"they are always written to DATA/invitations/ID.txt and ID.png, readable by the owner only. Set false when standard output is collected like a log")
	fs.StringVar(&c.WebhookURL, "webhook-url", "", "URL to POST events to (enrollment state changes, check-ins, check-outs, command results), signed, retried until acknowledged")
	fs.StringVar(&c.WebhookSecretFile, "webhook-secret-file", "", "file holding the secret -webhook-url deliveries are signed with (HMAC-SHA256)")
	fs.BoolVar(&c.ACME, "acme", false, "give devices hardware-bound, attested identities over ACME (device-attest-01, served at /acme) instead of SCEP: "+
		"a Secure Enclave key Apple attests, on iOS/iPadOS 16 and macOS 14 or later. ACME accounts, orders and nonces are kept in the database, which replicas share")
	fs.StringVar(&c.ACMERoot, "acme-attestation-root", "", "PEM file of the root ACME attestations must chain to instead of Apple's Enterprise Attestation Root CA "+
		"(a test root, for simulated devices). Needs -acme")
	fs.BoolVar(&c.ACMEFallback, "acme-scep-fallback", false, "with -acme, give SCEP instead to devices that are, or may be, too old for ACME "+
		"(older iOS and macOS, and Macs enrolling in Safari, whose release the server cannot tell); without it such devices refuse the profile")
	fs.DurationVar(&c.SweepInterval, "sweep-interval", server.DefaultSweepInterval, "how often to expire enrollments and commands, push devices again whose response to a command was lost, "+
		"and delete what the retention policy no longer keeps (finished enrollments and audit trails after a year, command results after 30 days, checked-out devices after 90)")
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	if c.ABMKey != "" && c.ABMServerUUID == "" {
		return c, nil, errors.New("-abm-key needs -abm-server-uuid: the tokens name the MDM server they are signed for")
	}
	if !c.ACME && (c.ACMERoot != "" || c.ACMEFallback) {
		return c, nil, errors.New("-acme-attestation-root and -acme-scep-fallback need -acme")
	}
	if c.SweepInterval <= 0 {
		return c, nil, fmt.Errorf("-sweep-interval %v: must be positive", c.SweepInterval)
	}
	c.publicURLSet = c.PublicURL != ""
	if c.PublicURL == "" {
		scheme := "http"
		if c.TLS {
			scheme = "https"
		}
		c.PublicURL = scheme + "://" + c.Listen
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, nil, fmt.Errorf("-public-url %q: want http(s)://host[:port]", c.PublicURL)
	}
	c.PublicURL = strings.TrimRight(u.String(), "/")
	return c, fs.Args(), nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, rest, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	if len(rest) > 0 {
		switch rest[0] {
		case "adduser":
			return cmdAddUser(cfg, rest[1:], stdout, stderr)
		case "invite":
			return cmdInvite(ctx, cfg, rest[1:], stdout, stderr, logger)
		case "serve":
			rest = rest[1:]
		default:
			return fmt.Errorf("unknown command %q (want adduser, invite or serve)", rest[0])
		}
		if len(rest) > 0 {
			return fmt.Errorf("unexpected arguments %q", rest)
		}
	}
	return serve(ctx, cfg, stdout, logger)
}

func cmdAddUser(cfg config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("adduser", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "username (what the user types on the portal)")
	password := fs.String("password", "", "password")
	mai := fs.String("managed-apple-id", "", "the user's Managed Apple Account (name@domain)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return err
	}
	dir, err := openDirectory(filepath.Join(cfg.Data, usersFile))
	if err != nil {
		return err
	}
	if err := dir.add(*user, *password, *mai); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %s (%s)\n", *user, *mai)
	return nil
}

func cmdInvite(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("invite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "username to invite (added with adduser)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *user == "" {
		return errors.New("invite: -user is required")
	}
	// Invitations must carry the URL the running server is reachable at.
	if saved, err := readServerInfo(cfg.Data); err == nil && !cfg.publicURLSet {
		cfg.PublicURL = saved.PublicURL
	}
	// The invitation is printed as JSON and written to the data
	// directory, where a running server finds it and shows it.
	st, err := newStack(ctx, cfg, nil, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	inv, err := st.invite(ctx, *user)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(invitationJSON(inv))
}

type invitationOut struct {
	EnrollmentID string    `json:"enrollment_id"`
	User         string    `json:"user"`
	URL          string    `json:"url"`
	Passcode     string    `json:"passcode"`
	ExpiresAt    time.Time `json:"expires_at"`
}

func invitationJSON(inv *enroll.Invitation) invitationOut {
	return invitationOut{
		EnrollmentID: inv.EnrollmentID,
		User:         inv.User.ID,
		URL:          inv.URL,
		Passcode:     inv.Passcode,
		ExpiresAt:    inv.ExpiresAt.UTC(),
	}
}

// serve runs the server. stdout is the terminal: it gets the announcement
// (with a generated admin token) and, with -show-invitations, the
// invitations; the log goes to logger.
func serve(ctx context.Context, cfg config, stdout io.Writer, logger *slog.Logger) error {
	st, err := newStack(ctx, cfg, nil, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	if cfg.ShowInvitations {
		st.showInvitations(ctx, stdout, time.Second)
	}
	// The housekeeping nothing else does (see server.Server.Sweep), until
	// shutdown; it ends before the database closes.
	sweepCtx, stopSweeps := context.WithCancel(ctx)
	sweeps := make(chan struct{})
	go func() {
		defer close(sweeps)
		st.srv.RunSweeps(sweepCtx, cfg.SweepInterval, logger.With("component", "sweep"))
	}()
	defer func() { stopSweeps(); <-sweeps }()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           st.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if cfg.TLS {
		srv.TLSConfig = st.tlsConfig()
	}
	if err := writeServerInfo(cfg.Data, serverInfo{PublicURL: cfg.PublicURL}); err != nil {
		return err
	}
	st.announce(stdout, ln.Addr().String())

	errc := make(chan error, 1)
	go func() {
		if cfg.TLS {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing requests in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// serverInfo is what a running server leaves in the data directory for the
// command-line tools.
type serverInfo struct {
	PublicURL string `json:"public_url"`
}

const serverInfoFile = "server.json"

func writeServerInfo(dir string, si serverInfo) error {
	b, _ := json.Marshal(si)
	return os.WriteFile(filepath.Join(dir, serverInfoFile), b, 0o600)
}

func readServerInfo(dir string) (serverInfo, error) {
	var si serverInfo
	b, err := os.ReadFile(filepath.Join(dir, serverInfoFile))
	if err != nil {
		return si, err
	}
	return si, json.Unmarshal(b, &si)
}
