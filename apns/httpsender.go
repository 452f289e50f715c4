package apns

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// maxErrorBody bounds how much of an APNs answer is read.
const maxErrorBody = 4 << 10

// sender sends pushes as HTTP/2 requests, over the client's own
// [transport] or a host's net/http client (Options.HTTPClient).
type sender struct {
	do   func(*http.Request) (*http.Response, error)
	base string     // https://host[:port]
	own  *transport // nil with a host's client, which Close leaves alone

	// Header values every push shares, as the requests carry them.
	topic, priority []string
}

// Header values that never change, shared by every request.
var (
	headerJSON = []string{"application/json"}
	headerMDM  = []string{"mdm"}
)

// request is one push on the wire.
type request struct {
	token      []byte
	magic      string
	id         string
	expiration []string // the batch's apns-expiration
}

// response is APNs' answer to one request.
type response struct {
	status int
	id     string
	body   []byte
}

func (s *sender) send(ctx context.Context, r *request) (response, error) {
	url := string(appendPath([]byte(s.base), r.token))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(appendBody(nil, r.magic)))
	if err != nil {
		return response{}, err
	}
	// Lowercase names, as HTTP/2 sends them: nothing to convert.
	h := req.Header
	h["content-type"] = headerJSON
	h["apns-push-type"] = headerMDM
	h["apns-topic"] = s.topic
	h["apns-expiration"] = r.expiration
	h["apns-priority"] = s.priority
	if r.id != "" {
		h["apns-id"] = []string{r.id}
	}
	if s.own != nil {
		h["user-agent"] = nil // APNs has no use for one
	}
	resp, err := s.do(req)
	if err != nil {
		if s.own != nil && s.own.isClosed() {
			return response{}, ErrClosed
		}
		return response{}, err
	}
	defer resp.Body.Close()
	out := response{status: resp.StatusCode, id: resp.Header.Get("Apns-Id")}
	if resp.StatusCode != http.StatusOK {
		out.body, err = io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		if err != nil {
			return response{}, err
		}
	}
	return out, nil
}

// close closes the client's own connections; a host's client may serve
// others and is left alone.
func (s *sender) close() error {
	if s.own == nil {
		return nil
	}
	return s.own.close()
}
