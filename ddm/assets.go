package ddm

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/enrollkit/enrollkit/mdm"
)

// AssetSource holds the data of assets whose DataURL points at the
// Service's AssetHandler.
type AssetSource interface {
	// AssetData returns the data of the asset identifier for the
	// enrollment downloading it (whose device proved its identity, and
	// which is served the asset) and its media type, or an error
	// matching ErrNotFound. Data may differ by enrollment: it is served
	// with no-store. It must be safe for concurrent use; the caller does
	// not modify data.
	AssetData(ctx context.Context, enrollment mdm.EnrollmentID, identifier string) (data []byte, contentType string, err error)
}

// AssetSourceFunc adapts a function to AssetSource.
type AssetSourceFunc func(ctx context.Context, enrollment mdm.EnrollmentID, identifier string) ([]byte, string, error)

// AssetData calls f(ctx, enrollment, identifier).
func (f AssetSourceFunc) AssetData(ctx context.Context, enrollment mdm.EnrollmentID, identifier string) ([]byte, string, error) {
	return f(ctx, enrollment, identifier)
}

// CredentialACMEType is the declaration type of an ACME credential asset:
// its data, a com.apple.credential.acme document, comes from
// Config.ACMECredentials.
const CredentialACMEType = "com.apple.asset.credential.acme"

// ACMECredentialAsset returns the declaration of an ACME credential asset
// whose data the AssetHandler serves at dataURL (the AssetHandler's URL
// ending in identifier) from Config.ACMECredentials, downloaded with the
// device's MDM identity. Its Reference names the media type but no Size
// or Hash-SHA-256: the document differs for every enrollment (each gets
// its own single-use ClientIdentifier when it downloads it), while the
// declaration, and so its ServerToken, is the same for all.
// Configurations reference it by identifier, such as a
// com.apple.configuration.security.identity's CredentialAssetReference
// or the IdentityAssetReference of a mail or Exchange account's signing
// and encryption, all allowed under User Enrollment.
func ACMECredentialAsset(identifier, dataURL string) *Declaration {
	p, _ := json.Marshal(map[string]any{
		"Reference":      map[string]string{"DataURL": dataURL, "ContentType": "application/json"},
		"Authentication": map[string]string{"Type": "MDM"},
	})
	return &Declaration{Identifier: identifier, Type: CredentialACMEType, Payload: p}
}

// Identifier authenticates a device's download as a check-in is
// authenticated and ties it to its enrollment; *mdm.Service implements it.
type Identifier interface {
	Identify(r *http.Request) (*mdm.Request, error)
}

// AssetHandler serves asset data to devices, at any path whose last
// segment is the asset's identifier: a host puts that URL in the asset's
// Reference.DataURL and leaves its Authentication absent or "MDM". The
// device's request is authenticated by auth exactly as its check-ins are
// (identity certificate, binding, enrollment state, bearer token) and is
// answered only for an asset its own enrollment is served: anything else
// gets 404, whoever asks. Data comes from Config.Assets (nil: 404), and
// for an ACME credential asset (CredentialACMEType) from
// Config.ACMECredentials when set (a HEAD request for one gets its media
// type and no length: its data is made for each download).
//
// Statuses: 405 for methods other than GET and HEAD, 401 or 403 for a
// device that does not prove its identity, 404 for an asset not served to
// it, 500 for store failures; no error text is sent.
func (s *Service) AssetHandler(auth Identifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		data, ct, err := s.assetData(r, auth)
		if err != nil {
			code := mdm.StatusCode(err)
			if errors.Is(err, ErrNotFound) {
				code = http.StatusNotFound
			}
			level := slog.LevelInfo
			if code >= 500 {
				level = slog.LevelError
			}
			s.log.LogAttrs(r.Context(), level, "ddm: asset request refused", slog.Int("status", code), slog.Any("err", err))
			http.Error(w, http.StatusText(code), code)
			return
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		w.Header().Set("Content-Type", ct)
		if data != nil {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(data)
		}
	})
}

func (s *Service) assetData(r *http.Request, auth Identifier) ([]byte, string, error) {
	req, err := auth.Identify(r)
	if err != nil {
		return nil, "", err
	}
	ident := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	st, err := s.store.SyncState(r.Context(), req.Enrollment.ID)
	if err != nil {
		return nil, "", err
	}
	if ident == "" || !slices.ContainsFunc(st.Items, func(it Item) bool { return it.Class == ClassAsset && it.Identifier == ident }) {
		return nil, "", ErrNotFound
	}
	src := s.cfg.Assets
	if s.cfg.ACMECredentials != nil {
		d, err := s.store.Declaration(r.Context(), ident)
		if err != nil {
			return nil, "", err
		}
		if d.Type == CredentialACMEType {
			if r.Method == http.MethodHead {
				// Every download mints a new identifier, voiding the
				// last: a HEAD must not.
				return nil, "application/json", nil
			}
			src = s.cfg.ACMECredentials
		}
	}
	if src == nil {
		return nil, "", ErrNotFound
	}
	return src.AssetData(r.Context(), req.Enrollment.ID, ident)
}
