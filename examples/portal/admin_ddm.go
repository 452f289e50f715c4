package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
)

// ddmRoutes adds the declarative management routes of the admin API.
func (st *stack) ddmRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /declarations", st.adminDeclarations)
	mux.HandleFunc("PUT /declarations/{identifier}", st.adminPutDeclaration)
	mux.HandleFunc("DELETE /declarations/{identifier}", st.adminDeleteDeclaration)
	mux.HandleFunc("PUT /acme-credentials/{identifier}", st.adminPutACMECredential)
	mux.HandleFunc("GET /sets", st.adminSets)
	mux.HandleFunc("PUT /sets/{name}", st.adminPutSet)
	mux.HandleFunc("DELETE /sets/{name}", st.adminDeleteSet)
	mux.HandleFunc("PUT /enrollments/{id}/declarations", st.adminAssign)
	mux.HandleFunc("POST /enrollments/{id}/declarations/preview", st.adminAssign)
	mux.HandleFunc("GET /enrollments/{id}/declarations", st.adminSync)
	mux.HandleFunc("GET /enrollments/{id}/declarations/status", st.adminDDMStatus)
}

type declarationJSON struct {
	Identifier  string          `json:"identifier"`
	Type        string          `json:"type"`
	Payload     json.RawMessage `json:"payload"`
	ServerToken string          `json:"server_token"`
}

func (st *stack) adminDeclarations(w http.ResponseWriter, r *http.Request) {
	list, err := st.ddm.Declarations(r.Context())
	if err != nil {
		st.writeDDMError(w, r, err)
		return
	}
	out := make([]declarationJSON, 0, len(list))
	for _, d := range list {
		out = append(out, declarationJSON{d.Identifier, d.Type, d.Payload, d.ServerToken()})
	}
	writeJSON(w, http.StatusOK, out)
}

func (st *stack) adminPutDeclaration(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload"`
	}
	if !st.decodeJSON(w, r, &req) {
		return
	}
	d := &ddm.Declaration{Identifier: r.PathValue("identifier"), Type: req.Type, Payload: req.Payload}
	if err := st.ddm.PutDeclaration(r.Context(), d); err != nil {
		st.writeDDMError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, declarationJSON{d.Identifier, d.Type, d.Payload, d.ServerToken()})
}

// adminPutACMECredential creates the declaration of an ACME credential
// asset whose data the server serves, each enrollment its own single-use
// ClientIdentifier (with -acme): a configuration referencing it, such as
// com.apple.configuration.security.identity's CredentialAssetReference,
// gives each device an attested credential that is not its MDM identity.
func (st *stack) adminPutACMECredential(w http.ResponseWriter, r *http.Request) {
	if st.srv.ACMECredentials == nil {
		writeJSONError(w, http.StatusConflict, "ACME credentials need -acme")
		return
	}
	d := st.srv.ACMECredentialAsset(r.PathValue("identifier"))
	if err := st.ddm.PutDeclaration(r.Context(), d); err != nil {
		st.writeDDMError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, declarationJSON{d.Identifier, d.Type, d.Payload, d.ServerToken()})
}

func (st *stack) adminDeleteDeclaration(w http.ResponseWriter, r *http.Request) {
	if err := st.ddm.DeleteDeclaration(r.Context(), r.PathValue("identifier")); err != nil {
		st.writeDDMError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (st *stack) adminSets(w http.ResponseWriter, r *http.Request) {
	sets, err := st.ddm.Sets(r.Context())
	if err != nil {
		st.writeDDMError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sets)
}

func (st *stack) adminPutSet(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Declarations []string `json:"declarations"`
	}
	if !st.decodeJSON(w, r, &req) {
		return
	}
	if err := st.ddm.PutSet(r.Context(), r.PathValue("name"), req.Declarations); err != nil {
		st.writeDDMError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": r.PathValue("name"), "declarations": req.Declarations})
}

func (st *stack) adminDeleteSet(w http.ResponseWriter, r *http.Request) {
	if err := st.ddm.DeleteSet(r.Context(), r.PathValue("name")); err != nil {
		st.writeDDMError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// deviceOf returns the MDM enrollment of the enrollment {id}, or answers
// 404 or 409 and returns "".
func (st *stack) deviceOf(w http.ResponseWriter, r *http.Request) mdm.EnrollmentID {
	e, err := st.enroll.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		st.writeEnrollError(w, r, err)
		return ""
	}
	if e.DeviceID == "" || (e.State != enroll.StateCheckedIn && e.State != enroll.StateEnrolled) {
		writeJSONError(w, http.StatusConflict, fmt.Sprintf("enrollment is %s: it has no managed device to take declarations", e.State))
		return ""
	}
	return mdm.EnrollmentID(e.DeviceID)
}

// adminAssign assigns (PUT) or previews (POST …/preview) sets and
// declarations, and answers what the device is (or would be) served and
// what is withheld from it.
func (st *stack) adminAssign(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Sets         []string `json:"sets"`
		Declarations []string `json:"declarations"`
	}
	if !st.decodeJSON(w, r, &req) {
		return
	}
	id := st.deviceOf(w, r)
	if id == "" {
		return
	}
	a := ddm.Assignment{Enrollment: id, Sets: req.Sets, Declarations: req.Declarations}
	var sync *ddm.SyncState
	var err error
	if r.Method == http.MethodPost {
		sync, err = st.ddm.Preview(r.Context(), a)
	} else if err = st.ddm.Assign(r.Context(), a); err == nil {
		sync, err = st.ddm.Sync(r.Context(), id)
	}
	if err != nil {
		st.writeDDMError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sync)
}

func (st *stack) adminSync(w http.ResponseWriter, r *http.Request) {
	id := st.deviceOf(w, r)
	if id == "" {
		return
	}
	sync, err := st.ddm.Sync(r.Context(), id)
	if err != nil {
		st.writeDDMError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sync)
}

func (st *stack) adminDDMStatus(w http.ResponseWriter, r *http.Request) {
	id := st.deviceOf(w, r)
	if id == "" {
		return
	}
	status, err := st.ddm.Status(r.Context(), id)
	if err != nil {
		st.writeDDMError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, status)
}

// writeDDMError maps ddm's errors to statuses: what the host sent is wrong
// (400), refers to what does not exist or is still used (409), or is not
// there (404).
func (st *stack) writeDDMError(w http.ResponseWriter, r *http.Request, err error) {
	var ve *ddm.ValidationError
	var re *ddm.ReferenceError
	switch {
	case errors.As(err, &ve):
		st.refuse(w, r, http.StatusBadRequest, "invalid "+ve.Field, err)
	case errors.As(err, &re):
		st.refuse(w, r, http.StatusConflict, fmt.Sprintf("%s refers to %q, which does not resolve: %s", re.From, re.To, re.Problem), err)
	case errors.Is(err, ddm.ErrInUse):
		st.refuse(w, r, http.StatusConflict, "still in use", err)
	case errors.Is(err, ddm.ErrNotFound), errors.Is(err, mdm.ErrNotFound):
		st.refuse(w, r, http.StatusNotFound, "not found", err)
	default:
		st.refuse(w, r, http.StatusInternalServerError, "internal error", err)
	}
}
