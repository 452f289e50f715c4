package apns

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// maxErrorBody bounds how much of an APNs answer is read.
const maxErrorBody = 4 << 10

// httpSender sends pushes with a host's net/http client
// (Options.HTTPClient).
type httpSender struct {
	client *http.Client
	base   string
}

func (s *httpSender) send(ctx context.Context, r *request) (response, error) {
	url := string(appendPath([]byte(s.base), r.token))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(appendBody(nil, r.magic)))
	if err != nil {
		return response{}, err
	}
	h := req.Header
	h["Content-Type"] = []string{"application/json"}
	h["Apns-Push-Type"] = []string{"mdm"}
	h["Apns-Topic"] = []string{r.topic}
	h["Apns-Expiration"] = []string{r.expiration}
	h["Apns-Priority"] = []string{r.priority}
	if r.id != "" {
		h["Apns-Id"] = []string{r.id}
	}
	resp, err := s.client.Do(req)
	if err != nil {
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

// close leaves the host's client alone: it may serve others.
func (s *httpSender) close() error { return nil }
