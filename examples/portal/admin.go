package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"howett.net/plist"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
)

// maxAdminBody bounds admin API request bodies.
const maxAdminBody = 64 << 10

// adminHandler is the example's admin API, protected by the bearer token
// printed at start (or ENROLLKIT_ADMIN_TOKEN):
//
//	POST /admin/invitations                      {"user":"alice"} → invitation
//	GET  /admin/enrollments[?state=enrolled]     → enrollments with their state
//	GET  /admin/enrollments/{id}                 → one enrollment, its audit trail and MDM record
//	POST /admin/enrollments/{id}/commands        {"request_type":"DeviceInformation","fields":{…}} → queued
//	GET  /admin/enrollments/{id}/commands/{uuid} → the device's result
//	POST /admin/enrollments/{id}/revoke          {"reason":"…"}
//	GET  /admin/metrics                          → Prometheus metrics (metrics.go)
//	/admin/ui/                                   → the admin page for a browser (adminpage.go)
//
// and declarative device management (admin_ddm.go):
//
//	GET    /admin/declarations                   → every declaration
//	PUT    /admin/declarations/{identifier}      {"type":"com.apple.configuration.…","payload":{…}}
//	DELETE /admin/declarations/{identifier}
//	PUT    /admin/acme-credentials/{identifier} → an ACME credential asset declaration (with -acme)
//	GET    /admin/sets                           → every set
//	PUT    /admin/sets/{name}                    {"declarations":["…"]}
//	DELETE /admin/sets/{name}
//	PUT    /admin/enrollments/{id}/declarations  {"sets":["…"],"declarations":["…"]} → what is served and withheld
//	POST   /admin/enrollments/{id}/declarations/preview (same body) → the same, without assigning
//	GET    /admin/enrollments/{id}/declarations  → what is served and withheld now
//	GET    /admin/enrollments/{id}/declarations/status → what the device reported
//
// Errors are JSON {"error":"…"} with a status and a fixed message; what went
// wrong inside is logged, never sent. A command for an enrollment whose
// device is not managed (no check-in yet, checked out, revoked, …) is
// refused with 409 Conflict: the enrollment exists, its state is what
// forbids the command.
func (st *stack) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /invitations", st.adminInvite)
	mux.HandleFunc("GET /enrollments", st.adminList)
	mux.HandleFunc("GET /enrollments/{id}", st.adminGet)
	mux.HandleFunc("POST /enrollments/{id}/commands", st.adminEnqueue)
	mux.HandleFunc("GET /enrollments/{id}/commands/{uuid}", st.adminResult)
	mux.HandleFunc("POST /enrollments/{id}/revoke", st.adminRevoke)
	st.ddmRoutes(mux)
	mux.Handle("GET /metrics", st.metrics.handler())
	page := st.adminPage() // adminpage.go: signs in with a form and a cookie
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, adminUIPrefix) || r.URL.Path == strings.TrimSuffix(adminUIPrefix, "/") {
			page.ServeHTTP(w, r)
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(st.admin)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="enrollkit admin"`)
			writeJSONError(w, http.StatusUnauthorized, "missing or wrong admin token")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

type enrollmentOut struct {
	ID             string       `json:"id"`
	State          enroll.State `json:"state"`
	Flow           enroll.Flow  `json:"flow,omitempty"`
	User           string       `json:"user"`
	ManagedAppleID string       `json:"managed_apple_id"`
	DeviceID       string       `json:"device_id,omitempty"`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
	ExpiresAt      *time.Time   `json:"expires_at,omitempty"`
}

func enrollmentJSON(e *enroll.Enrollment) enrollmentOut {
	out := enrollmentOut{
		ID: e.ID, State: e.State, Flow: e.Flow, User: e.UserID, ManagedAppleID: e.ManagedAppleID,
		DeviceID: e.DeviceID, CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(),
	}
	if !e.ExpiresAt.IsZero() {
		t := e.ExpiresAt.UTC()
		out.ExpiresAt = &t
	}
	return out
}

func (st *stack) adminInvite(w http.ResponseWriter, r *http.Request) {
	var req struct {
		User string `json:"user"`
	}
	if !st.decodeJSON(w, r, &req) {
		return
	}
	u, ok := st.users.lookup(req.User)
	if !ok {
		writeJSONError(w, http.StatusNotFound, "unknown user")
		return
	}
	inv, err := st.enroll.CreateInvitation(r.Context(), st.adminMeta(r), u.user())
	if err != nil {
		st.writeEnrollError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, invitationJSON(inv))
}

func (st *stack) adminList(w http.ResponseWriter, r *http.Request) {
	var opts enroll.ListOptions
	for _, s := range r.URL.Query()["state"] {
		opts.States = append(opts.States, enroll.State(s))
	}
	opts.UserID = r.URL.Query().Get("user")
	list, err := st.enroll.List(r.Context(), opts)
	if err != nil {
		st.writeEnrollError(w, r, err)
		return
	}
	out := make([]enrollmentOut, 0, len(list))
	for _, e := range list {
		out = append(out, enrollmentJSON(e))
	}
	writeJSON(w, http.StatusOK, out)
}

func (st *stack) adminGet(w http.ResponseWriter, r *http.Request) {
	e, err := st.enroll.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		st.writeEnrollError(w, r, err)
		return
	}
	audit, err := st.enroll.Audit(r.Context(), e.ID)
	if err != nil {
		st.writeEnrollError(w, r, err)
		return
	}
	out := struct {
		enrollmentOut
		Audit []enroll.AuditEvent   `json:"audit"`
		MDM   *mdm.EnrollmentRecord `json:"mdm,omitempty"`
	}{enrollmentOut: enrollmentJSON(e), Audit: audit}
	out.MDM = st.mdmRecord(r.Context(), e)
	writeJSON(w, http.StatusOK, out)
}

// mdmRecord returns the MDM record of e's device, or nil if it has none.
func (st *stack) mdmRecord(ctx context.Context, e *enroll.Enrollment) *mdm.EnrollmentRecord {
	if e.DeviceID == "" {
		return nil
	}
	rec, err := st.mdm.Enrollment(ctx, mdm.EnrollmentID(e.DeviceID))
	if err != nil {
		return nil
	}
	return rec
}

func (st *stack) adminEnqueue(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RequestType string         `json:"request_type"`
		Fields      map[string]any `json:"fields"`
	}
	if !st.decodeJSON(w, r, &req) {
		return
	}
	out, ae := st.enqueueCommand(r, r.PathValue("id"), req.RequestType, req.Fields)
	if ae != nil {
		st.refuse(w, r, ae.status, ae.msg, ae.err)
		return
	}
	writeJSON(w, http.StatusAccepted, out)
}

// adminError is a refused admin request: its status, the fixed message
// the client sees, and what went wrong inside, which is only logged.
type adminError struct {
	status int
	msg    string
	err    error
}

// Error implements error.
func (e *adminError) Error() string { return e.msg }

type pushOut struct {
	ID    string `json:"apns_id,omitempty"`
	Error string `json:"error,omitempty"`
}

// queuedOut is a command queued through the admin API or page.
type queuedOut struct {
	CommandUUID string    `json:"command_uuid"`
	RequestType string    `json:"request_type"`
	Pushes      []pushOut `json:"pushes"`
}

// enqueueCommand queues the command requestType with fields for the
// device of enrollment id and pushes to it. The admin API and the admin
// page share it.
func (st *stack) enqueueCommand(r *http.Request, id, requestType string, fields map[string]any) (*queuedOut, *adminError) {
	if requestType == "" {
		return nil, &adminError{http.StatusBadRequest, "request_type is required", errors.New("no request_type")}
	}
	e, err := st.enroll.Get(r.Context(), id)
	if err != nil {
		return nil, enrollError(err)
	}
	if e.DeviceID == "" || (e.State != enroll.StateCheckedIn && e.State != enroll.StateEnrolled) {
		msg := fmt.Sprintf("enrollment is %s: it has no managed device to take commands", e.State)
		return nil, &adminError{http.StatusConflict, msg, errors.New(msg)}
	}
	payload := map[string]any{}
	for k, v := range fields {
		payload[k] = v
	}
	payload["RequestType"] = requestType
	cmd, err := mdm.NewCommand(newUUID(), payload)
	if err != nil {
		return nil, &adminError{http.StatusBadRequest, "request_type and fields do not make a valid command", err}
	}
	pushes, err := st.mdm.Enqueue(r.Context(), cmd, mdm.EnrollmentID(e.DeviceID))
	var pe *mdm.PolicyError
	switch {
	case errors.Is(err, mdm.ErrPushFailed):
		// The command is queued; only waking the device failed. The
		// device still gets it at its next check-in.
		st.logger.WarnContext(r.Context(), "admin API: command queued, push failed", "enrollment", e.ID, "err", err)
	case errors.As(err, &pe):
		msg := pe.RequestType + " is not allowed for this enrollment"
		if why := pe.Why(); why != "" {
			msg += ": " + why
		}
		return nil, &adminError{http.StatusForbidden, msg, err}
	case errors.Is(err, mdm.ErrNotFound):
		// The device checked out (or its record is gone) since the
		// enrollment was read.
		return nil, &adminError{http.StatusConflict, "the enrollment has no managed device to take commands", err}
	case errors.Is(err, mdm.ErrCommandExists):
		return nil, &adminError{http.StatusConflict, "a command with this UUID is already queued", err}
	case err != nil:
		return nil, &adminError{http.StatusInternalServerError, "internal error", err}
	}
	out := &queuedOut{CommandUUID: cmd.UUID, RequestType: cmd.RequestType, Pushes: []pushOut{}}
	for _, p := range pushes {
		po := pushOut{ID: p.ID}
		if p.Err != nil {
			po.Error = "push failed"
			if errors.Is(p.Err, mdm.ErrPushTokenDead) {
				po.Error = "the device's push token is no longer valid"
			}
			st.logger.WarnContext(r.Context(), "admin API: push failed", "enrollment", e.ID, "err", p.Err)
		}
		out.Pushes = append(out.Pushes, po)
	}
	return out, nil
}

func (st *stack) adminResult(w http.ResponseWriter, r *http.Request) {
	out, ae := st.commandResult(r.Context(), r.PathValue("id"), r.PathValue("uuid"))
	if ae != nil {
		st.refuse(w, r, ae.status, ae.msg, ae.err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// resultOut is a device's result of a command.
type resultOut struct {
	CommandUUID string         `json:"command_uuid"`
	Status      mdm.Status     `json:"status"`
	Result      map[string]any `json:"result"`
}

// commandResult reads the result of command uuid from the device of
// enrollment id. The admin API and the admin page share it.
func (st *stack) commandResult(ctx context.Context, id, uuid string) (*resultOut, *adminError) {
	e, err := st.enroll.Get(ctx, id)
	if err != nil {
		return nil, enrollError(err)
	}
	res, err := st.mdm.Result(ctx, mdm.EnrollmentID(e.DeviceID), uuid)
	if errors.Is(err, mdm.ErrNotFound) {
		return nil, &adminError{http.StatusNotFound, "no result yet", err}
	}
	if err != nil {
		return nil, &adminError{http.StatusInternalServerError, "internal error", err}
	}
	var body map[string]any
	if _, err := plist.Unmarshal(res.Raw, &body); err != nil {
		return nil, &adminError{http.StatusInternalServerError, "internal error", err}
	}
	return &resultOut{res.CommandUUID, res.Status, body}, nil
}

func (st *stack) adminRevoke(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 && !st.decodeJSON(w, r, &req) {
		return
	}
	e, err := st.enroll.Revoke(r.Context(), st.adminMeta(r), r.PathValue("id"), req.Reason)
	if err != nil {
		st.writeEnrollError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, enrollmentJSON(e))
}

func (st *stack) adminMeta(r *http.Request) enroll.Meta {
	return enroll.Meta{ClientIP: clientIP(r), UserAgent: r.UserAgent(), Actor: "admin"}
}

// writeEnrollError maps enroll's errors to statuses and fixed messages for
// the admin API.
func (st *stack) writeEnrollError(w http.ResponseWriter, r *http.Request, err error) {
	ae := enrollError(err)
	st.refuse(w, r, ae.status, ae.msg, ae.err)
}

// enrollError maps an error of package enroll to a status and a fixed
// message.
func enrollError(err error) *adminError {
	var te *enroll.TransitionError
	switch {
	case errors.Is(err, enroll.ErrNotFound):
		return &adminError{http.StatusNotFound, "enrollment not found", err}
	case errors.Is(err, enroll.ErrUnknownUser):
		return &adminError{http.StatusNotFound, "unknown user", err}
	case errors.Is(err, enroll.ErrInvalidInput):
		return &adminError{http.StatusBadRequest, "invalid request", err}
	case errors.As(err, &te):
		return &adminError{http.StatusConflict, fmt.Sprintf("not allowed while the enrollment is %s", te.From), err}
	case errors.Is(err, enroll.ErrVersionConflict):
		return &adminError{http.StatusConflict, "the enrollment changed meanwhile; try again", err}
	default:
		return &adminError{http.StatusInternalServerError, "internal error", err}
	}
}

// refuse answers an admin request with status and the fixed message msg,
// and logs err, which may say more than a client should learn.
func (st *stack) refuse(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	st.logger.Log(r.Context(), level, "admin API: request refused", "method", r.Method, "route", r.Pattern, "status", status, "err", err)
	writeJSONError(w, status, msg)
}

// decodeJSON decodes the request body into v, or answers 400 and reports
// false.
func (st *stack) decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := "bad JSON body"
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			msg = "request body too large"
		}
		st.refuse(w, r, http.StatusBadRequest, msg, err)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// newUUID returns a random (version 4) UUID in upper case, the kind the
// MDM service names commands with.
func newUUID() string { return mdm.NewCommandUUID() }
