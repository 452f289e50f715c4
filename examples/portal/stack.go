package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/apns"
	"github.com/enrollkit/enrollkit/credentials"
	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/profile"
	"github.com/enrollkit/enrollkit/scep"
	"github.com/enrollkit/enrollkit/server"
	"github.com/enrollkit/enrollkit/store/postgres"
	"github.com/enrollkit/enrollkit/store/sqlite"
)

// Paths inside the data directory.
const (
	dbFile         = "enrollkit.db"
	usersFile      = "users.json"
	pkiDir         = "pki"
	invitationsDir = "invitations"
	sessionKeyFile = "session.key"
	topicFile      = "push-topic"
)

// URL paths the server mounts its parts at.
const (
	portalPath = server.PortalPath
	mdmPath    = server.MDMPath
	scepPath   = server.SCEPPath
	acmePath   = server.ACMEPath
	adminPath  = "/admin/"
)

// stack is the whole server: stores, services and handlers, wired.
type stack struct {
	cfg    config
	logger *slog.Logger

	stores  stores
	pki     *devPKI
	users   *directory
	srv     *server.Server // the SDK's composition of the parts below
	enroll  *enroll.Service
	portal  *enroll.Portal
	mdm     *mdm.Service
	ddm     *ddm.Service
	pusher  *apns.Client // nil: pushes are off
	metrics *metrics
	events  *events  // nil: no events (no -webhook-url)
	webhook *webhook // nil: no events
	topic   string
	// maid signs GetToken's com.apple.maid tokens with abmKey for the
	// MDM server abmUUID; abmDev says the key is the development one.
	maid     *mdm.MAIDIssuer
	abmKey   crypto.Signer
	abmUUID  string
	abmDev   bool
	admin    string // the admin API's bearer token
	pkiFresh bool

	// adminGenerated is set when admin was made at start, not read from
	// ENROLLKIT_ADMIN_TOKEN: only then is it printed.
	adminGenerated bool
	// shower shows invitations on the terminal (notify.go).
	shower invitationShower
}

// newStack opens (or creates) the data directory and wires every part.
// notices, if not nil, is shown the invitations the development notifier
// sends (they hold secrets: never the log); they are written into the data
// directory either way.
func newStack(ctx context.Context, cfg config, notices io.Writer, logger *slog.Logger) (*stack, error) {
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, err
	}
	st := &stack{cfg: cfg, logger: logger}
	st.shower.w = notices

	u, _ := url.Parse(cfg.PublicURL)
	hosts := []string{u.Hostname()}
	if h := u.Hostname(); h != "localhost" && h != "127.0.0.1" {
		hosts = append(hosts, "localhost", "127.0.0.1")
	}
	var err error
	st.pki, st.pkiFresh, err = loadOrCreatePKI(filepath.Join(cfg.Data, pkiDir), hosts)
	if err != nil {
		return nil, err
	}
	if st.users, err = openDirectory(filepath.Join(cfg.Data, usersFile)); err != nil {
		return nil, err
	}
	sessionKey, err := loadOrCreateSecret(filepath.Join(cfg.Data, sessionKeyFile))
	if err != nil {
		return nil, err
	}
	if err := st.loadPush(ctx); err != nil {
		return nil, err
	}
	if err := st.loadABM(ctx); err != nil {
		return nil, err
	}

	if st.stores, err = openStores(ctx, cfg, logger); err != nil {
		return nil, err
	}

	signer, err := profile.NewSigner(st.pki.SignerKey, []*x509.Certificate{st.pki.Signer, st.pki.CA})
	if err != nil {
		st.Close()
		return nil, err
	}
	insecure := u.Scheme != "https"
	anchor := &profile.Root{Certificate: profile.Certificate{
		Header:  profile.Header{PayloadDisplayName: "Development CA", PayloadIdentifier: "enrollkit.example.ca"},
		Content: st.pki.CA.Raw,
	}}
	var deviceRoots *x509.CertPool // nil: Apple's device CAs
	if cfg.DeviceCARoot != "" {
		certs, err := new(credentials.Loader).LoadCertificates(ctx, cfg.DeviceCARoot)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("-device-ca-root: %w", err)
		}
		deviceRoots = x509.NewCertPool()
		for _, c := range certs {
			deviceRoots.AddCert(c)
		}
	}
	var acmeCfg server.ACMEConfig // zero: identities over SCEP
	if cfg.ACME {
		acmeCfg.Enabled = true
		acmeCfg.Store = st.stores.acme // its nonces too: replicas share both
		acmeCfg.Logger = logger.With("component", "acme")
		if cfg.ACMERoot != "" {
			certs, err := new(credentials.Loader).LoadCertificates(ctx, cfg.ACMERoot)
			if err != nil {
				st.Close()
				return nil, fmt.Errorf("-acme-attestation-root: %w", err)
			}
			acmeCfg.AttestationRoots = x509.NewCertPool()
			for _, c := range certs {
				acmeCfg.AttestationRoots.AddCert(c)
			}
		}
	}
	// The SDK's composition: enrollment, portal and discovery, SCEP (or
	// ACME) with the development CA, and MDM tied to the enrollments.
	st.metrics = newMetrics(func(ctx context.Context, o enroll.ListOptions) ([]*enroll.Enrollment, error) {
		return st.enroll.List(ctx, o)
	}, func(ctx context.Context) (mdm.QueueStats, error) {
		return st.mdm.QueueStats(ctx)
	})
	mopts := mdm.Config{Logger: logger.With("component", "mdm"), OnRequest: st.metrics.request}
	if st.pusher != nil {
		mopts.Pusher = st.metrics.pusher(st.pusher)
	}
	if err := st.newEvents(); err != nil {
		st.Close()
		return nil, err
	}
	if st.events != nil {
		mopts.Observer = st.events
	}
	st.srv, err = server.New(st.stores.enroll, st.stores.mdm, server.Config{
		PublicURL: cfg.PublicURL,
		Enroll: enroll.Config{
			Authenticator: st.users,
			Directory:     st.users,
			Notifier:      enroll.NotifierFunc(st.notify),
			Terms: enroll.Terms{
				Version: "2026-01",
				Text:    strings.ReplaceAll(enroll.DefaultTermsText, "your organization", cfg.Organization),
			},
			Profile: enroll.ProfileConfig{
				Topic:             st.topic,
				DisplayName:       cfg.Organization + " enrollment",
				Organization:      cfg.Organization,
				Description:       "Installs " + cfg.Organization + "'s management of your work account and apps. Your personal data stays private.",
				Certificates:      []profile.Payload{anchor},
				AllowInsecureURLs: insecure,
			},
			Signer:       signer,
			ACME:         enroll.ACMEConfig{SCEPFallback: cfg.ACMEFallback},
			OnTransition: st.transitioned,
			Logger:       logger.With("component", "enroll"),
		},
		Portal: enroll.PortalConfig{
			SessionKey:   sessionKey,
			Organization: cfg.Organization,
			DeviceRoots:  deviceRoots,
			Logger:       logger.With("component", "portal"),
		},
		CA:     &scep.CA{Certificate: st.pki.CA, Key: st.pki.CAKey},
		SCEP:   scep.Config{Logger: logger.With("component", "scep")},
		ACME:   acmeCfg,
		MDM:    mopts,
		Tokens: mdm.Tokens{mdm.TokenServiceMAID: st.maid},
		// Declarative device management: declarations, sets and
		// assignments through the admin API, filtered for User Enrollment.
		Declarations: st.stores.ddm,
		DDM:          ddm.Config{Logger: logger.With("component", "ddm")},
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	st.enroll, st.portal, st.mdm, st.ddm = st.srv.Enroll, st.srv.Portal, st.srv.MDM, st.srv.DDM
	st.admin = os.Getenv("ENROLLKIT_ADMIN_TOKEN")
	if st.admin == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			st.Close()
			return nil, err
		}
		st.admin = base64.RawURLEncoding.EncodeToString(b)
		st.adminGenerated = true
	}
	return st, nil
}

// loadPush loads the MDM push certificate, if one was given, and sets the
// push topic: the certificate's, or without one a stable placeholder so that
// profiles are still valid for the simulated device.
func (st *stack) loadPush(ctx context.Context) error {
	if st.cfg.PushCert == "" {
		t, err := os.ReadFile(filepath.Join(st.cfg.Data, topicFile))
		if errors.Is(err, fs.ErrNotExist) {
			t = []byte(apns.TopicPrefix + "External." + newUUID())
			if err := os.WriteFile(filepath.Join(st.cfg.Data, topicFile), t, 0o600); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		st.topic = strings.TrimSpace(string(t))
		return nil
	}
	loader := credentials.Loader{Logger: st.logger}
	if _, ok := os.LookupEnv("ENROLLKIT_PUSH_CERT_PASSWORD"); ok {
		// A PKCS#12 push certificate's password; without the variable the
		// file is opened with the empty password.
		loader.Password = credentials.PasswordEnv("ENROLLKIT_PUSH_CERT_PASSWORD")
	}
	if st.cfg.VaultPasswordFile != "" {
		loader.VaultPassword = credentials.PasswordFile(st.cfg.VaultPasswordFile)
	}
	paths := []string{st.cfg.PushCert}
	if st.cfg.PushKey != "" {
		paths = append(paths, st.cfg.PushKey)
	}
	id, err := loader.LoadIdentity(ctx, paths...)
	if err != nil {
		return fmt.Errorf("-push-cert: %w", err)
	}
	if st.topic, err = apns.Topic(id.Leaf()); err != nil {
		return fmt.Errorf("-push-cert: %w", err)
	}
	roots, err := apnsRoots(st.cfg.APNSCA)
	if err != nil {
		return err
	}
	st.pusher, err = apns.New(id.TLSCertificate(), apns.Options{
		BaseURL: st.cfg.APNSURL,
		RootCAs: roots,
		Logger:  st.logger.With("component", "apns"),
	})
	if err != nil {
		return fmt.Errorf("-push-cert: %w", err)
	}
	return nil
}

// loadABM sets up the issuer of GetToken's com.apple.maid tokens: the key
// in -abm-key, or the development key in the PKI directory (whose
// certificate can be registered in Apple Business Manager), for the server
// UUID in -abm-server-uuid, or a development UUID kept in the PKI
// directory.
func (st *stack) loadABM(ctx context.Context) error {
	var err error
	if st.cfg.ABMKey != "" {
		loader := credentials.Loader{Logger: st.logger}
		if st.cfg.VaultPasswordFile != "" {
			loader.VaultPassword = credentials.PasswordFile(st.cfg.VaultPasswordFile)
		}
		if st.abmKey, err = loader.LoadSigner(ctx, st.cfg.ABMKey); err != nil {
			return fmt.Errorf("-abm-key: %w", err)
		}
	} else if st.abmKey, err = loadOrCreateABM(st.pki.dir); err != nil {
		return err
	}
	st.abmDev = st.cfg.ABMKey == ""
	st.abmUUID = st.cfg.ABMServerUUID
	if st.abmUUID == "" {
		path := st.pki.Path(abmUUIDFile)
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			b = []byte(newUUID())
			err = os.WriteFile(path, b, 0o600)
		}
		if err != nil {
			return err
		}
		st.abmUUID = strings.TrimSpace(string(b))
	}
	if st.maid, err = mdm.NewMAIDIssuer(st.abmKey, st.abmUUID); err != nil {
		return fmt.Errorf("-abm-key, -abm-server-uuid: %w", err)
	}
	return nil
}

// apnsRoots returns the roots that verify the APNs server: the system's,
// plus the CA in -apns-ca for a local stand-in of APNs (a test server).
func apnsRoots(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("-apns-ca: %w", err)
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("-apns-ca: %s holds no PEM certificate", caFile)
	}
	return pool, nil
}

// stores are the stores the server runs on, and how to close them.
type stores struct {
	enroll enroll.Store
	mdm    mdm.Store
	ddm    ddm.Store
	// acme keeps ACME accounts, orders and nonces in the database, so
	// that replicas share them.
	acme  acme.Store
	close func()
}

// openStores opens the SQLite database in the data directory or, with
// -postgres, the PostgreSQL database that several replicas share.
func openStores(ctx context.Context, cfg config, logger *slog.Logger) (stores, error) {
	if cfg.Postgres != "" {
		db, err := postgres.Open(ctx, cfg.Postgres, postgres.Options{Logger: logger, Schema: cfg.PostgresSchema})
		if err != nil {
			return stores{}, fmt.Errorf("-postgres: %w", err)
		}
		return stores{enroll: db.Enroll(), mdm: db.MDM(), ddm: db.DDM(), acme: db.ACME(), close: func() { db.Close() }}, nil
	}
	db, err := sqlite.Open(ctx, filepath.Join(cfg.Data, dbFile), sqlite.Options{Logger: logger})
	if err != nil {
		return stores{}, err
	}
	return stores{enroll: db.Enroll(), mdm: db.MDM(), ddm: db.DDM(), acme: db.ACME(), close: func() { db.Close() }}, nil
}

// Close releases the database and the push connection, and stops the
// webhook.
func (st *stack) Close() {
	if st.webhook != nil {
		st.webhook.Close()
	}
	if st.pusher != nil {
		st.pusher.Close()
	}
	if st.stores.close != nil {
		st.stores.close()
	}
}

// Handler routes every part of the server.
func (st *stack) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", st.srv) // portal, discovery, MDM and SCEP
	mux.Handle(adminPath, http.StripPrefix(strings.TrimSuffix(adminPath, "/"), st.adminHandler()))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "enrollkit example server\n\nportal:   %s\nMDM:      %s\nSCEP:     %s\n",
			st.cfg.PublicURL+portalPath, st.cfg.PublicURL+mdmPath, st.cfg.PublicURL+scepPath)
	})
	return st.metrics.instrument(mux)
}

func (st *stack) tlsConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{st.pki.TLS},
		MinVersion:   tls.VersionTLS12,
		// Devices may authenticate with their identity certificate at the
		// TLS layer; the mdm service checks it when it is there.
		ClientAuth: tls.RequestClientCert,
	}
}

// invite creates an invitation for a user of the demo directory.
func (st *stack) invite(ctx context.Context, username string) (*enroll.Invitation, error) {
	u, ok := st.users.lookup(username)
	if !ok {
		return nil, fmt.Errorf("invite: no user %q (add one with adduser)", username)
	}
	return st.enroll.CreateInvitation(ctx, enroll.Meta{Actor: "admin"}, u.user())
}

// announce tells the person who started the server where everything is. It
// is written to standard output, not the log: it carries a generated admin
// token.
func (st *stack) announce(w io.Writer, addr string) {
	pushes := "off (no -push-cert): commands wait until the device polls"
	if st.pusher != nil {
		pushes = "on, topic " + st.topic
	}
	fmt.Fprintf(w, "\nenrollkit example server listening on %s\n", addr)
	fmt.Fprintf(w, "  portal:       %s\n", st.cfg.PublicURL+portalPath)
	fmt.Fprintf(w, "  discovery:    %s\n", st.cfg.PublicURL+enroll.WellKnownPath)
	fmt.Fprintf(w, "  MDM:          %s\n", st.cfg.PublicURL+mdmPath)
	fmt.Fprintf(w, "  SCEP:         %s\n", st.cfg.PublicURL+scepPath)
	if st.cfg.ACME {
		fmt.Fprintf(w, "  ACME:         %s\n", st.srv.ACME.DirectoryURL())
	}
	if st.adminGenerated {
		fmt.Fprintf(w, "  admin API:    %s (Authorization: Bearer %s)\n", st.cfg.PublicURL+adminPath, st.admin)
	} else {
		fmt.Fprintf(w, "  admin API:    %s (Authorization: Bearer $ENROLLKIT_ADMIN_TOKEN)\n", st.cfg.PublicURL+adminPath)
	}
	fmt.Fprintf(w, "  admin page:   %s (sign in with the admin token)\n", st.cfg.PublicURL+adminUIPath)
	fmt.Fprintf(w, "  pushes:       %s\n", pushes)
	keyFile := st.cfg.ABMKey
	if st.abmDev {
		keyFile = st.pki.Path(abmKeyFile)
	}
	fmt.Fprintf(w, "  GetToken:     com.apple.maid tokens for MDM server %s, signed with %s\n", st.abmUUID, keyFile)
	if st.cfg.ABMServerUUID == "" {
		fmt.Fprintf(w, "                (development: for Apple to accept them, register %s in Apple Business Manager and pass its server UUID in -abm-server-uuid)\n",
			st.pki.Path(abmCertFile))
	}
	fmt.Fprintf(w, "  data:         %s\n", st.cfg.Data)
	if st.pkiFresh {
		fmt.Fprintf(w, "  created a development CA, profile signer and TLS certificate in %s\n", st.pki.dir)
	} else {
		fmt.Fprintf(w, "  certificates: %s\n", st.pki.dir)
	}
	if !strings.HasPrefix(st.cfg.PublicURL, "https://") {
		fmt.Fprintf(w, "  note: profiles carry http URLs, which real devices refuse; use -tls and a -public-url devices can reach\n")
	}
	fmt.Fprintf(w, "\nnext: go run ./examples/portal -data %s adduser -user alice -password secret -managed-apple-id alice@example.com\n", st.cfg.Data)
	fmt.Fprintf(w, "      go run ./examples/portal -data %s invite -user alice\n\n", st.cfg.Data)
}

// loadOrCreateSecret returns the 32-byte secret in path, creating it.
func loadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, os.WriteFile(path, b, 0o600)
}

// clientIP is the host part of the request's remote address.
func clientIP(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}
