// Package server composes enrollkit into one http.Handler: the enrollment
// Service and its portal, account-driven discovery, the SCEP endpoint that
// issues device identities (or, with Config.ACME, the ACME endpoint that
// issues hardware-bound, attested ones), and the MDM service tied to the enrollments
// (answering GetToken when Config.Tokens is set). It is the one way to wire the SDK with every check on: the MDM service
// vets each device request against its enrollment (enroll's Precheck) and
// moves the state machine (enroll's Observe), only certificates of the
// given CA are accepted, account-driven requests must come from Apple's
// device CA (or the DeviceRoots named in Config.Portal), and every URL
// derives from one PublicURL. A host that needs a part on its own mounts the
// Server's fields; weakening a check takes a named setting
// (PortalConfig.InsecureSkipDeviceChainCheck), and a setting that
// contradicts the composition is an error from New.
//
// Package enrollkittest runs the same composition in-process for a host's
// integration tests.
package server

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/profile"
	"github.com/enrollkit/enrollkit/scep"
)

// Paths the Server serves, below Config.PublicURL. Discovery is at
// enroll.WellKnownPath.
const (
	// PortalPath is the portal's path: the Service's Config.PortalURL is
	// PublicURL + PortalPath.
	PortalPath = "/portal/"
	// MDMPath is the MDM check-in and server URL's path.
	MDMPath = "/mdm"
	// SCEPPath is the SCEP endpoint's path.
	SCEPPath = "/scep"
	// ACMEPath is the ACME endpoint's path (with Config.ACME.Enabled);
	// its directory is ACMEPath + "/directory".
	ACMEPath = "/acme"
	// ACMECredentialPath is the path of the ACME endpoint that issues the
	// credentials of declarative management's ACME credential assets
	// (with Config.ACME.Enabled and Config.Declarations); its directory
	// is ACMECredentialPath + "/directory".
	ACMECredentialPath = "/acme-credential"
	// AssetPath is where devices download declarative management asset
	// data: AssetPath + the asset's identifier (see Server.AssetURL).
	AssetPath = "/mdm/assets/"
)

// Config configures a Server. PublicURL, CA, and in Enroll the
// Authenticator, Directory, Signer and Profile.Topic, and in Portal the
// SessionKey are required; every other field has a documented default.
type Config struct {
	// PublicURL is where devices and browsers reach the Server: scheme and
	// host, such as "https://enroll.example.com", without a path. The
	// portal, the MDM URL, the SCEP URL and the invitation links derive from
	// it. Required.
	PublicURL string

	// Enroll configures the enrollment Service. Its PortalURL,
	// Profile.ServerURL and SCEP.URL derive from PublicURL and must be left
	// empty; Identity, if set, replaces the built-in SCEP challenges (the
	// SCEP endpoint then refuses every request, as no challenge of its own
	// is redeemed). Its Unenroller nil means the MDM service: revoking an
	// enrolled device queues RemoveProfile for its enrollment profile and
	// pushes it.
	Enroll enroll.Config
	// Portal configures the portal. DeviceRoots nil pins Apple's device
	// CAs (see enroll.PortalConfig).
	Portal enroll.PortalConfig

	// CA issues device identities over SCEP; its certificate is the root
	// the MDM service verifies them against. Required: scep.GenerateCA
	// makes one, scep.ParseCA loads one.
	CA *scep.CA
	// SCEP configures the SCEP endpoint.
	SCEP scep.Config
	// ACME turns on hardware-bound, attested device identities over ACME.
	// The zero value issues identities over SCEP alone.
	ACME ACMEConfig

	// MDM configures the MDM service. Roots nil means CA's certificate.
	// The enrollment Service always vets requests and observes what is
	// stored: a Prechecker set here runs before it, an Observer after it,
	// and mdm.NoPrechecker is refused. A Responder set here answers the
	// check-ins the Server's own parts do not (GetToken when Tokens is
	// set).
	MDM mdm.Config

	// Tokens answers GetToken check-ins, by TokenServiceType: an
	// mdm.MAIDIssuer under mdm.TokenServiceMAID lets Managed Apple
	// Accounts sign in on enrolled devices when the organization allows
	// them on managed devices only. When set, the profiles announce
	// profile.CapabilityToken, without which devices never send GetToken.
	// Nil: GetToken goes to MDM.Responder (404 without one), and
	// announcing profile.CapabilityToken without a Responder is an error.
	Tokens mdm.Tokens
	// Declarations keeps declarative device management (package ddm);
	// nil leaves it off, and DeclarativeManagement check-ins get 404. With
	// a store, the ddm Service answers them behind the same identity checks
	// as every check-in (MDM.Responder, if set, answers the other
	// messages it does not handle) and starts declarative management on
	// each device when it enrolls.
	Declarations ddm.Store
	// DDM configures the ddm Service. Its Next derives from MDM.Responder
	// and must be left nil; its Assets hold the data served at AssetPath.
	DDM ddm.Config
}

// ACMEConfig configures attested ACME identities (Config.ACME).
type ACMEConfig struct {
	// Enabled serves the ACME endpoint (package acme) at ACMEPath, issuing
	// with Config.CA, and gives every profile an ACME payload instead of
	// SCEP: Config.Enroll.ACME's DirectoryURL derives from PublicURL and
	// must be left empty; its other fields (KeySize, Subject,
	// SCEPFallback, …) apply. The certificates it issues check in exactly
	// as SCEP ones do. The SCEP endpoint stays up, for the devices
	// Config.Enroll.ACME.SCEPFallback gives SCEP, and never redeems an
	// ACME ClientIdentifier. False, the zero value, leaves identities to
	// SCEP.
	Enabled bool
	// Config configures the ACME server. BaseURL derives from PublicURL
	// and must be left empty; Chain nil means Config.CA's certificate;
	// AttestationRoots nil means Apple's Enterprise Attestation Root CA
	// (set it only to enroll simulated devices, package acme/acmetest).
	// Store nil keeps accounts, orders and nonces in this process's
	// memory; behind a load balancer give every replica the database's
	// ACME store (DB.ACME of store/sqlite or store/postgres), which keeps
	// the nonces too.
	acme.Config
	// Credentials configures the ACME credentials that declarative
	// management offers (with Config.Declarations): an asset declaration
	// of type ddm.CredentialACMEType whose DataURL is the Server's
	// (Server.ACMECredentialAsset makes one) serves each enrollment a
	// com.apple.credential.acme document with its own single-use
	// ClientIdentifier, which a second ACME endpoint, at
	// ACMECredentialPath, redeems: the certificate it issues with
	// Config.CA is a credential for the configurations referencing the
	// asset, never the device's MDM identity, and check-ins presenting it
	// are refused. DirectoryURL derives from PublicURL and must be left
	// empty; Store nil means Config's Store when it keeps credential
	// identifiers too (DB.ACME does), and otherwise this process's memory;
	// Now and Logger nil mean Config's.
	Credentials acme.CredentialsConfig
}

// Server is the composed enrollment and MDM server. Its fields are the
// parts, for hosts that invite users (Enroll.CreateInvitation), queue
// commands (MDM.Enqueue) or mount a part elsewhere. A Server is an
// http.Handler serving every part at its path; it is safe for concurrent
// use.
type Server struct {
	// Enroll is the enrollment Service.
	Enroll *enroll.Service
	// Portal is the portal and discovery handler.
	Portal *enroll.Portal
	// MDM is the MDM service.
	MDM *mdm.Service
	// SCEP is the SCEP endpoint.
	SCEP *scep.Handler
	// ACME is the ACME endpoint; nil without Config.ACME.Enabled.
	ACME *acme.Handler
	// ACMECredentials is the ACME endpoint of declarative management's
	// ACME credentials; nil without both Config.ACME.Enabled and
	// Config.Declarations.
	ACMECredentials *acme.Handler
	// DDM is the declarative management Service; nil without
	// Config.Declarations.
	DDM *ddm.Service

	base string // PublicURL

	mux *http.ServeMux
}

// New composes a Server on the two stores (a database's Enroll and MDM
// stores, such as sqlite.DB's). It fails when a store or required setting
// is missing, when a URL that derives from PublicURL is set to something
// else, when mdm.NoPrechecker is given, or when a part refuses its
// configuration.
func New(enrollStore enroll.Store, mdmStore mdm.Store, cfg Config) (*Server, error) {
	a := cfg.Enroll.ACME
	switch {
	case enrollStore == nil || mdmStore == nil:
		return nil, errors.New("server: New: nil store")
	case cfg.CA == nil:
		return nil, errors.New("server: New: Config.CA is required")
	case cfg.Enroll.PortalURL != "" || cfg.Enroll.Profile.ServerURL != "" || cfg.Enroll.SCEP.URL != "":
		return nil, errors.New("server: New: Config.Enroll's PortalURL, Profile.ServerURL and SCEP.URL derive from PublicURL; leave them empty")
	case cfg.MDM.Prechecker == mdm.NoPrechecker:
		return nil, errors.New("server: New: Config.MDM.Prechecker cannot be mdm.NoPrechecker: the enrollment Service vets every device request")
	case cfg.Tokens == nil && cfg.MDM.Responder == nil && slices.Contains(cfg.Enroll.Profile.ServerCapabilities, profile.CapabilityToken):
		return nil, errors.New("server: New: the profiles announce " + profile.CapabilityToken + " but nothing answers GetToken: set Config.Tokens")
	case cfg.DDM.Next != nil:
		return nil, errors.New("server: New: Config.DDM.Next derives from Config.MDM.Responder; leave it nil")
	case cfg.Enroll.ACME.DirectoryURL != "" || cfg.ACME.BaseURL != "" || cfg.ACME.Credentials.DirectoryURL != "":
		return nil, errors.New("server: New: Config.Enroll.ACME.DirectoryURL, Config.ACME.BaseURL and Config.ACME.Credentials.DirectoryURL derive from PublicURL; leave them empty")
	case !(cfg.ACME.Enabled && cfg.Declarations != nil) && credentialsSet(cfg.ACME.Credentials):
		return nil, errors.New("server: New: Config.ACME.Credentials is set but ACME credentials need Config.ACME.Enabled and Config.Declarations")
	case cfg.ACME.Enabled && cfg.Declarations != nil && cfg.DDM.ACMECredentials != nil:
		return nil, errors.New("server: New: Config.DDM.ACMECredentials derives from Config.ACME.Credentials; leave it nil")
	case !cfg.ACME.Enabled && (a.SCEPFallback || a.KeySize != 0 || a.Subject != nil || a.ExtendedKeyUsage != nil || a.TTL != 0):
		return nil, errors.New("server: New: Config.Enroll.ACME is set but Config.ACME.Enabled is not")
	case cfg.ACME.Enabled && cfg.Enroll.Identity != nil:
		return nil, errors.New("server: New: Config.ACME.Enabled and Config.Enroll.Identity are both set; the ACME endpoint redeems the built-in identities only")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("server: New: Config.PublicURL %q is not scheme://host[:port]", cfg.PublicURL)
	}
	base := u.Scheme + "://" + u.Host

	ecfg := cfg.Enroll
	if cfg.Tokens != nil && !slices.Contains(ecfg.Profile.ServerCapabilities, profile.CapabilityToken) {
		ecfg.Profile.ServerCapabilities = append(slices.Clip(ecfg.Profile.ServerCapabilities), profile.CapabilityToken)
	}
	ecfg.PortalURL = base + PortalPath
	ecfg.Profile.ServerURL = base + MDMPath
	if ecfg.Identity == nil {
		ecfg.SCEP.URL = base + SCEPPath
	}
	if cfg.ACME.Enabled {
		ecfg.ACME.DirectoryURL = base + ACMEPath + "/directory"
	}
	s := &Server{mux: http.NewServeMux()}
	// Revoking an enrolled device asks it to unenroll through the MDM
	// service, which is built after the enrollment Service it vets with.
	unenroll := &lateUnenroller{}
	if ecfg.Unenroller == nil {
		ecfg.Unenroller = unenroll
	}
	if s.Enroll, err = enroll.New(enrollStore, ecfg); err != nil {
		return nil, err
	}
	if s.Portal, err = enroll.NewPortal(s.Enroll, cfg.Portal); err != nil {
		return nil, err
	}
	if s.SCEP, err = scep.NewHandler(s.Enroll, cfg.CA, cfg.SCEP); err != nil {
		return nil, err
	}
	if cfg.ACME.Enabled {
		if s.ACME, err = acme.NewHandler(s.Enroll.ACME(), cfg.CA, acmeConfig(cfg, base+ACMEPath)); err != nil {
			return nil, err
		}
	}
	mopts := cfg.MDM
	if len(mopts.Roots) == 0 {
		mopts.Roots = []*x509.Certificate{cfg.CA.Certificate}
	}
	mopts.Prechecker = s.Enroll
	if cfg.MDM.Prechecker != nil {
		// The enrollment Service writes when it approves, so it goes last.
		mopts.Prechecker = mdm.Prechecks{cfg.MDM.Prechecker, s.Enroll}
	}
	mopts.Observer = s.Enroll
	if cfg.MDM.Observer != nil {
		mopts.Observer = mdm.Observers{s.Enroll, cfg.MDM.Observer}
	}
	mopts.Responder = responder(cfg)
	if cfg.Declarations != nil {
		// The ddm Service answers DeclarativeManagement through mdm and
		// queues its commands there; mdm calls it only once both exist.
		mopts.Responder = mdm.ResponderFunc(func(ctx context.Context, r *mdm.Request) ([]byte, error) { return s.DDM.Respond(ctx, r) })
		mopts.Observer = mdm.Observers{mopts.Observer, mdm.ObserverFunc(func(ctx context.Context, ev *mdm.Event) error { return s.DDM.Observe(ctx, ev) })}
	}
	if s.MDM, err = mdm.NewService(mdmStore, mopts); err != nil {
		return nil, err
	}
	unenroll.mdm = s.MDM
	if cfg.Declarations != nil {
		dcfg := cfg.DDM
		dcfg.Next = responder(cfg)
		if cfg.ACME.Enabled {
			if dcfg.ACMECredentials, err = s.credentials(cfg, base); err != nil {
				return nil, err
			}
		}
		if s.DDM, err = ddm.New(cfg.Declarations, s.MDM, dcfg); err != nil {
			return nil, err
		}
	}
	s.mux.Handle(PortalPath, s.Portal)
	s.mux.Handle(enroll.WellKnownPath, s.Portal.WellKnownHandler())
	s.mux.Handle(MDMPath, s.MDM)
	s.mux.Handle(SCEPPath, s.SCEP)
	if s.ACME != nil {
		s.mux.Handle(ACMEPath+"/", s.ACME)
	}
	if s.ACMECredentials != nil {
		s.mux.Handle(ACMECredentialPath+"/", s.ACMECredentials)
	}
	if s.DDM != nil {
		s.mux.Handle(AssetPath, s.DDM.AssetHandler(s.MDM))
	}
	s.base = base
	return s, nil
}

// credentials makes the ACME endpoint of declarative management's ACME
// credentials, s.ACMECredentials, and returns the Credentials that serve
// their asset data.
//
// It is a second Handler, not the identity Handler routing by prefix:
// acme.Enrollments.RecordCertificate is told the enrollment but not the
// identifier, so one Handler could not tell a credential from an identity
// when it records the certificate; two Handlers make the difference
// structural, each redeeming only its own prefix. They may share one
// Store: an account is bound to the identifier of its first order, and an
// order of one finalized through the other is refused by the prefix.
func (s *Server) credentials(cfg Config, base string) (*acme.Credentials, error) {
	acfg := acmeConfig(cfg, base+ACMECredentialPath)
	ccfg := cfg.ACME.Credentials
	ccfg.DirectoryURL = acfg.BaseURL + "/directory"
	if cs, ok := acfg.Store.(acme.CredentialStore); ok && ccfg.Store == nil {
		ccfg.Store = cs
	}
	if ccfg.Now == nil {
		ccfg.Now = acfg.Now
	}
	if ccfg.Logger == nil {
		ccfg.Logger = acfg.Logger
	}
	creds, err := acme.NewCredentials(s.MDM, ccfg)
	if err != nil {
		return nil, err
	}
	if s.ACMECredentials, err = acme.NewHandler(creds, cfg.CA, acfg); err != nil {
		return nil, err
	}
	return creds, nil
}

// acmeConfig is the configuration of an ACME endpoint mounted at baseURL:
// cfg.ACME's, serving the CA's certificate after an issued one unless
// cfg.ACME.Chain says otherwise.
func acmeConfig(cfg Config, baseURL string) acme.Config {
	acfg := cfg.ACME.Config
	acfg.BaseURL = baseURL
	if acfg.Chain == nil {
		acfg.Chain = []*x509.Certificate{cfg.CA.Certificate}
	}
	return acfg
}

// credentialsSet reports whether c sets anything.
func credentialsSet(c acme.CredentialsConfig) bool { return !reflect.ValueOf(c).IsZero() }

// ACMECredentialAsset returns the declaration of an ACME credential asset
// whose data the Server serves (ddm.ACMECredentialAsset at AssetURL): put
// it with DDM.PutDeclaration and reference it from a configuration. It
// needs Config.ACME.Enabled and Config.Declarations.
func (s *Server) ACMECredentialAsset(identifier string) *ddm.Declaration {
	return ddm.ACMECredentialAsset(identifier, s.AssetURL(identifier))
}

// responder answers the check-ins the MDM service hands on: each by the
// Server's part for its message type, if configured, and the rest by
// cfg.MDM.Responder.
func responder(cfg Config) mdm.Responder {
	own := mdm.Responders{}
	if cfg.Tokens != nil {
		own[mdm.MessageGetToken] = cfg.Tokens
	}
	switch {
	case len(own) == 0:
		return cfg.MDM.Responder
	case cfg.MDM.Responder == nil:
		return own
	}
	return withHost{own, cfg.MDM.Responder}
}

// withHost hands a message to own's Responder for its type, or to host.
type withHost struct {
	own  mdm.Responders
	host mdm.Responder
}

// Respond implements mdm.Responder.
func (w withHost) Respond(ctx context.Context, r *mdm.Request) ([]byte, error) {
	if r.Message != nil && w.own[r.Message.CheckinHeader().MessageType] != nil {
		return w.own.Respond(ctx, r)
	}
	return w.host.Respond(ctx, r)
}

// AssetURL is the DataURL of an asset whose data Config.DDM.Assets holds:
// devices download it with their MDM identity, and only if they are
// served the asset.
func (s *Server) AssetURL(identifier string) string {
	return s.base + AssetPath + url.PathEscape(identifier)
}

// ServeHTTP serves the portal at PortalPath, discovery at
// enroll.WellKnownPath, MDM at MDMPath, SCEP at SCEPPath, ACME below
// ACMEPath when enabled and, with
// declarative management, asset data at AssetPath; other paths get 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// lateUnenroller is the MDM service as the enrollment Service's
// Unenroller, set once the MDM service exists.
type lateUnenroller struct{ mdm *mdm.Service }

func (u *lateUnenroller) Unenroll(ctx context.Context, id mdm.EnrollmentID, profileIdentifier string) error {
	return u.mdm.Unenroll(ctx, id, profileIdentifier)
}
