package mdm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"
)

// Content types of device requests.
const (
	ContentTypeCheckin = "application/x-apple-aspen-mdm-checkin"
	ContentTypeCommand = "application/x-apple-aspen-mdm"
)

// Responder answers the check-in messages the Service does not handle
// itself: SetBootstrapToken, GetBootstrapToken, DeclarativeManagement and
// GetToken. The returned bytes are the response body (200). Returning an
// error wrapping ErrUnsupported answers 404; other errors map as in
// ServeHTTP. Implementations must be safe for concurrent use.
type Responder interface {
	Respond(ctx context.Context, r *Request) ([]byte, error)
}

// ResponderFunc adapts a function to Responder.
type ResponderFunc func(ctx context.Context, r *Request) ([]byte, error)

// Respond calls f(ctx, r).
func (f ResponderFunc) Respond(ctx context.Context, r *Request) ([]byte, error) { return f(ctx, r) }

// ServeHTTP serves both the check-in URL and the server URL: a body with
// MessageType is a check-in, one with Status a command result.
//
// Status codes: 405 for methods other than PUT, 415 for a foreign
// Content-Type, 413 for an oversize body, 401 for a missing or unverifiable
// identity (or a Prechecker asking for one), 403 for an untrusted
// certificate, a certificate bound elsewhere or a refused Prechecker, 400 for
// a malformed message (including one that would cost more to decode than
// its size allows, see internal/plistcheck, and a GetToken for a service
// type no TokenIssuer serves), 404 for an unknown (or checked-out)
// enrollment and unsupported messages, 410 to decline
// UserAuthenticate, 500 for store and observer failures. A command request
// answers 200 with the next command, or an empty body when none is due.
// Nothing is stored for a refused request.
//
// The checks run in this order, who is speaking before what they say: a
// declared Content-Length over the limit of the Content-Type is refused
// first; then the identity certificate (the TLS client certificate, the
// proxy header, or the signer's certificate in Mdm-Signature) must chain to
// the roots before the body is read; the body is read within the limit, and
// an Mdm-Signature must verify over it before any of it is decoded. So an
// unsigned request or one from a foreign CA is answered 401 or 403 without
// its body being read, one with a trusted certificate but a signature that
// does not verify costs at most about twice its size (see readBody), and a
// body is decoded only for a holder of an identity the roots issued.
//
// Config.OnRequest, if set, is told about every request once it is
// answered.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rep *RequestReport
	if s.opts.OnRequest != nil {
		rep = &RequestReport{HTTPStatus: http.StatusOK}
		defer func(start time.Time) {
			rep.Duration = time.Since(start)
			s.opts.OnRequest(r.Context(), rep)
		}(time.Now())
	}
	if r.Method != http.MethodPut {
		rep.refused(errMethod)
		w.Header().Set("Allow", http.MethodPut)
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	out, err := s.serve(r, rep)
	if err != nil {
		rep.refused(err)
		s.fail(w, r, err)
		return
	}
	if out != nil {
		ct := "application/xml; charset=utf-8"
		switch {
		case bytes.HasPrefix(out, []byte("bplist")):
			ct = "application/x-plist"
		case bytes.HasPrefix(out, []byte("{")): // declarative management answers JSON
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
		w.Write(out)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// errDecline makes ServeHTTP answer 410 to a UserAuthenticate.
var errDecline = errors.New("mdm: UserAuthenticate declined")

// serve answers r; rep, if not nil, learns what the request carries.
func (s *Service) serve(r *http.Request, rep *RequestReport) ([]byte, error) {
	ctx := r.Context()
	limit := s.opts.MaxCommandBytes
	wantCheckin, wantCommand := false, false
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
			return nil, errUnsupportedMedia
		case mt == ContentTypeCheckin:
			wantCheckin, limit = true, s.opts.MaxCheckinBytes
		case mt == ContentTypeCommand:
			wantCommand = true
		default:
			return nil, errUnsupportedMedia
		}
	}
	if r.ContentLength > limit {
		return nil, &DecodeError{Err: fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, r.ContentLength, limit)}
	}
	// Who is speaking before what they say. The certificate (the
	// connection's, the proxy's header, or the one that made the
	// Mdm-Signature) must chain to the roots before the body is read, and
	// the signature must verify over the raw bytes before they are
	// decoded: decoding costs memory in proportion to what the body holds,
	// and only a holder of an identity the roots issued may spend it.
	pending, err := s.verifier.identifyHeaders(r, s.opts.CertHeader, s.opts.MaxSignatureBytes)
	if err != nil {
		return nil, err
	}
	body, err := readBody(r, limit)
	if err != nil {
		return nil, err
	}
	id, err := pending.verify(body)
	if err != nil {
		return nil, err
	}
	v, err := decode(body)
	if err != nil {
		return nil, err
	}
	msg, _ := v.(Message)
	res, _ := v.(*CommandResult)
	if rep != nil {
		if msg != nil {
			rep.MessageType = msg.CheckinHeader().MessageType
		} else {
			rep.Status = res.Status
		}
	}
	switch {
	case msg != nil && wantCommand, res != nil && wantCheckin:
		return nil, &DecodeError{Field: "Content-Type", Err: fmt.Errorf("%w: message does not match its Content-Type", ErrMalformed)}
	case msg != nil && int64(len(body)) > s.opts.MaxCheckinBytes:
		return nil, &DecodeError{Err: fmt.Errorf("%w: check-in over %d bytes", ErrBodyTooLarge, s.opts.MaxCheckinBytes)}
	}

	var ident Identifiers
	if msg != nil {
		ident = msg.CheckinHeader().Identifiers
	} else {
		ident = res.Identifiers
	}
	e, err := ident.Resolve()
	if err != nil {
		return nil, err
	}
	if rep != nil {
		rep.Enrollment = e
	}
	req := &Request{HTTP: r, Enrollment: e, Message: msg, Result: res, Certificate: id.cert, Chain: id.chain, Fingerprint: id.fp}
	rec, dev, err := s.authorize(ctx, req)
	if err != nil {
		return nil, err
	}
	if msg != nil {
		return s.checkin(ctx, req, rec, dev)
	}
	return s.command(ctx, req)
}

var (
	errUnsupportedMedia = errors.New("mdm: unsupported Content-Type")
	// errMethod is what RequestReport.Err holds for a method other than
	// PUT.
	errMethod = errors.New("mdm: method not allowed")
)

// readBody reads at most limit bytes of the request body. The caller has
// refused a declared Content-Length over limit.
//
// A body that fits in readChunk bytes is read into one buffer of its
// declared length. A longer one is read in chunks of readChunk bytes, then
// copied into one buffer of its exact length: a client that declares a
// large body and sends little holds what it sent, not what it declared,
// and a body of n bytes costs at most 2n + readChunk bytes to read.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, &DecodeError{Err: fmt.Errorf("%w: empty body", ErrMalformed)}
	}
	first := limit + 1
	if r.ContentLength >= 0 {
		first = r.ContentLength + 1 // one more, to see the end
	}
	lr := &io.LimitedReader{R: r.Body, N: limit + 1}
	var chunks [][]byte
	total := int64(0)
	for size := min(first, readChunk); ; size = min(lr.N, readChunk) {
		c := make([]byte, size)
		n, err := io.ReadFull(lr, c)
		chunks = append(chunks, c[:n])
		total += int64(n)
		if total > limit {
			return nil, &DecodeError{Err: fmt.Errorf("%w: limit %d", ErrBodyTooLarge, limit)}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, &DecodeError{Err: fmt.Errorf("%w: reading body: %v", ErrMalformed, err)}
		}
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	body := make([]byte, 0, total)
	for _, c := range chunks {
		body = append(body, c...)
	}
	return body, nil
}

// readChunk is the largest buffer readBody allocates before it has seen
// the body's bytes.
const readChunk = 64 << 10

// authorize checks the certificate binding and runs the Prechecker. It
// returns the record the message will update (nil for a first Authenticate
// or a new user channel) and, for a user channel, its device channel's.
func (s *Service) authorize(ctx context.Context, req *Request) (rec, dev *EnrollmentRecord, err error) {
	e := req.Enrollment
	_, isAuth := req.Message.(*Authenticate)
	if isAuth && e.Type.IsUserChannel() {
		return nil, nil, &DecodeError{Field: "UserID", Err: fmt.Errorf("%w: Authenticate on a user channel", ErrMalformed)}
	}
	deviceID := e.ID
	if e.Type.IsUserChannel() {
		deviceID = e.ParentID
	}
	dev, err = s.store.Enrollment(ctx, deviceID)
	// A certificate is bound to at most one record (EnrollmentStore's
	// contract), so a record that holds this certificate is the one it is
	// bound to: the look-up by certificate is needed only otherwise, which
	// spares most polls one query.
	if err != nil || dev.Certificate != req.Fingerprint {
		bound, berr := s.store.EnrollmentByCertificate(ctx, req.Fingerprint)
		switch {
		case berr == nil && bound != deviceID:
			return nil, nil, &IdentityError{Err: ErrCertificateInUse}
		case berr != nil && !errors.Is(berr, ErrNotFound):
			return nil, nil, berr
		}
	}
	switch {
	case errors.Is(err, ErrNotFound):
		if !isAuth {
			return nil, nil, fmt.Errorf("%w: %s", ErrUnknownEnrollment, deviceID)
		}
	case err != nil:
		return nil, nil, err
	case isAuth:
		rec = dev
		// A checked-out enrollment is over: a device enrolling again with a
		// new identity may take its ID back (a Prechecker still vets it).
		// Moving a live record to another certificate is a Rebind, which
		// only a Prechecker can approve.
		req.Rebind = dev.Certificate != req.Fingerprint && !dev.CheckedOut
		if req.Rebind && s.opts.Prechecker == nil {
			return nil, nil, &IdentityError{Err: fmt.Errorf("%w: re-Authenticate with a different certificate", ErrCertificateMismatch)}
		}
	default:
		if dev.CheckedOut {
			return nil, nil, fmt.Errorf("%w: %s checked out", ErrUnknownEnrollment, deviceID)
		}
		if dev.Certificate != req.Fingerprint {
			return nil, nil, &IdentityError{Err: ErrCertificateMismatch}
		}
		rec = dev
	}
	if e.Type.IsUserChannel() {
		u, err := s.store.Enrollment(ctx, e.ID)
		switch {
		case errors.Is(err, ErrNotFound):
			// A user channel starts with UserAuthenticate and TokenUpdate.
			switch req.Message.(type) {
			case *TokenUpdate, *UserAuthenticate:
			default:
				return nil, nil, fmt.Errorf("%w: %s", ErrUnknownEnrollment, e.ID)
			}
			rec = nil
		case err != nil:
			return nil, nil, err
		default:
			if u.CheckedOut {
				if _, ok := req.Message.(*TokenUpdate); !ok {
					return nil, nil, fmt.Errorf("%w: %s checked out", ErrUnknownEnrollment, e.ID)
				}
			}
			rec = u
		}
	}
	req.Device = dev
	if err := s.precheck(ctx, req); err != nil {
		return nil, nil, err
	}
	return rec, dev, nil
}

// precheck runs the Prechecker, if any; a refusal that chooses no status
// becomes 403.
func (s *Service) precheck(ctx context.Context, req *Request) error {
	if s.opts.Prechecker == nil {
		return nil
	}
	if err := s.opts.Prechecker.Precheck(ctx, req); err != nil {
		var re *RejectError
		if errors.As(err, &re) || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden) {
			return err
		}
		return &RejectError{Status: http.StatusForbidden, Err: err}
	}
	return nil
}

func (s *Service) checkin(ctx context.Context, req *Request, rec, dev *EnrollmentRecord) ([]byte, error) {
	previous := rec
	now := s.opts.Now()
	e := req.Enrollment
	var kind EventKind
	switch m := req.Message.(type) {
	case *Authenticate:
		rec = &EnrollmentRecord{
			ID: e.ID, Type: e.Type, Certificate: req.Fingerprint, Topic: m.Topic,
			OSVersion: m.OSVersion, BuildVersion: m.BuildVersion, ProductName: m.ProductName, SerialNumber: m.SerialNumber,
			DeviceName: m.DeviceName, Model: m.Model, ModelName: m.ModelName,
			Platform:        PlatformOf(m.ProductName, m.Model, m.ModelName),
			AuthenticatedAt: now, UpdatedAt: now,
		}
		if e.Type.IsUserEnrollment() {
			// A personal device does not disclose its serial number under
			// User Enrollment; one that sends it anyway is not believed.
			rec.SerialNumber = ""
		}
		kind = EventAuthenticate
	case *TokenUpdate:
		if rec == nil { // a new user channel
			rec = &EnrollmentRecord{ID: e.ID, Type: e.Type, ParentID: e.ParentID, AuthenticatedAt: now}
		} else {
			rec = rec.Clone()
		}
		if m.Topic != "" {
			rec.Topic = m.Topic
		}
		if e.Type.IsUserChannel() {
			// A user channel runs on its device channel's device: the
			// command policy needs that device's platform and release.
			rec.Platform, rec.OSVersion, rec.BuildVersion = dev.platform(), dev.OSVersion, dev.BuildVersion
		} else {
			rec.Platform = rec.platform() // a record stored before platforms were learns its own
		}
		rec.Token, rec.PushMagic, rec.TokenDead, rec.Enrolled, rec.CheckedOut, rec.UpdatedAt = m.Token, m.PushMagic, false, true, false, now
		kind = EventTokenUpdate
	case *CheckOut:
		rec = rec.Clone()
		rec.CheckedOut, rec.Enrolled, rec.UpdatedAt = true, false, now
		kind = EventCheckOut
	case *UserAuthenticate:
		return nil, errDecline
	case *SetBootstrapToken, *GetBootstrapToken:
		if e.Type.IsUserEnrollment() {
			// Bootstrap tokens are not part of User Enrollment: nothing is
			// escrowed for a personal device.
			return nil, fmt.Errorf("%w: %s under User Enrollment", ErrUnsupported, req.Message.CheckinHeader().MessageType)
		}
		return s.respond(ctx, req)
	default:
		return s.respond(ctx, req)
	}
	if err := s.store.PutEnrollment(ctx, rec); err != nil {
		if errors.Is(err, ErrCertificateInUse) {
			return nil, &IdentityError{Err: err}
		}
		return nil, fmt.Errorf("mdm: store %s: %w", kind, err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "mdm: check-in", slog.String("message_type", kind.String()),
		slog.String("enrollment", string(e.ID)), slog.String("enrollment_type", e.Type.String()))
	device := req.Device
	if !e.Type.IsUserChannel() {
		device = rec
	}
	return nil, s.observe(ctx, &Event{Kind: kind, Enrollment: e, Message: req.Message, Request: req.HTTP, Fingerprint: req.Fingerprint, Device: device, Previous: previous})
}

// respond hands a message the Service does not handle itself to the
// Responder.
func (s *Service) respond(ctx context.Context, req *Request) ([]byte, error) {
	if s.opts.Responder == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, req.Message.CheckinHeader().MessageType)
	}
	out, err := s.opts.Responder.Respond(ctx, req)
	if err != nil {
		return nil, err
	}
	// What was answered is logged, never the answer (a token, say).
	s.log.LogAttrs(ctx, slog.LevelInfo, "mdm: check-in answered", slog.String("message_type", string(messageType(req))),
		slog.String("enrollment", string(req.Enrollment.ID)), slog.String("enrollment_type", req.Enrollment.Type.String()))
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

func (s *Service) observe(ctx context.Context, ev *Event) error {
	if s.opts.Observer == nil {
		return nil
	}
	if err := s.opts.Observer.Observe(ctx, ev); err != nil {
		return fmt.Errorf("mdm: observer (%s): %w", ev.Kind, err)
	}
	return nil
}

func (s *Service) command(ctx context.Context, req *Request) ([]byte, error) {
	id, res := req.Enrollment.ID, req.Result
	if res.Status == StatusIdle {
		if err := s.store.ResetNotNow(ctx, []EnrollmentID{id}); err != nil {
			return nil, fmt.Errorf("mdm: idle: %w", err)
		}
	} else {
		res.ReceivedAt = s.opts.Now()
		err := s.store.PutResult(ctx, id, res)
		switch {
		case errors.Is(err, ErrNotFound):
			s.log.LogAttrs(ctx, slog.LevelWarn, "mdm: result for a command not pending",
				slog.String("enrollment", string(id)), slog.String("command_uuid", res.CommandUUID), slog.String("command_status", string(res.Status)))
		case err != nil:
			return nil, fmt.Errorf("mdm: store result: %w", err)
		default:
			if err := s.observe(ctx, &Event{Kind: EventCommandResult, Enrollment: req.Enrollment, Result: res, Request: req.HTTP, Fingerprint: req.Fingerprint}); err != nil {
				return nil, err
			}
		}
	}
	cmd, err := s.store.NextCommand(ctx, id, s.opts.Now(), s.opts.Lease)
	if errors.Is(err, ErrQueueEmpty) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mdm: next command: %w", err)
	}
	return cmd.Raw, nil
}

// StatusCode returns the HTTP status ServeHTTP answers for err.
func StatusCode(err error) int {
	var re *RejectError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &re):
		return re.status()
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, errUnsupportedMedia):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, errDecline):
		return http.StatusGone
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnauthorized), errors.Is(err, ErrNoCertificate), errors.Is(err, ErrBadSignature):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrUntrustedCertificate), errors.Is(err, ErrCertificateMismatch),
		errors.Is(err, ErrCertificateInUse):
		return http.StatusForbidden
	case errors.Is(err, ErrUnknownEnrollment), errors.Is(err, ErrUnsupported):
		return http.StatusNotFound
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrMissingMessageType), errors.Is(err, ErrUnknownMessageType),
		errors.Is(err, ErrNoEnrollmentID), errors.Is(err, ErrUnknownStatus), errors.Is(err, ErrUnknownTokenService):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := StatusCode(err)
	level := slog.LevelInfo
	if code >= 500 {
		level = slog.LevelError
	}
	s.log.LogAttrs(r.Context(), level, "mdm: request refused", slog.Int("status", code), slog.Any("err", err))
	var re *RejectError
	if code == http.StatusUnauthorized && errors.As(err, &re) && re.Challenge != "" {
		w.Header().Set("WWW-Authenticate", re.Challenge)
	}
	if code == http.StatusForbidden && errors.As(err, &re) && re.Unenroll {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(code)
		w.Write(unrecognizedDevice)
		return
	}
	http.Error(w, http.StatusText(code), code)
}

// unrecognizedDevice is the body of a 403 that makes the device unenroll
// (Apple's ErrorUnrecognizedDevice).
var unrecognizedDevice = []byte(`{"code":"` + UnrecognizedDeviceCode + `","description":"The enrollment of this device has ended."}` + "\n")
