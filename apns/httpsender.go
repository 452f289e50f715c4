package apns

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"time"
)

// maxErrorBody bounds how much of an APNs answer is read.
const maxErrorBody = 4 << 10

// httpSender sends pushes with a net/http client.
type httpSender struct {
	client *http.Client
	base   string
	own    bool // the transport is ours to close
}

// newHTTPTransportSender returns a sender over a net/http transport that
// keeps a single HTTP/2 connection and queues requests on it when its stream
// limit is reached instead of opening more connections.
func newHTTPTransportSender(tc *tls.Config, base string) *httpSender {
	var protos http.Protocols
	protos.SetHTTP2(true)
	tr := &http.Transport{
		TLSClientConfig:     tc,
		ForceAttemptHTTP2:   true,
		Protocols:           &protos,
		MaxConnsPerHost:     1,
		TLSHandshakeTimeout: 10 * time.Second,
		HTTP2: &http.HTTP2Config{
			StrictMaxConcurrentRequests: true,
			SendPingTimeout:             60 * time.Second,
			PingTimeout:                 15 * time.Second,
		},
	}
	return &httpSender{client: &http.Client{Transport: tr}, base: base, own: true}
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

func (s *httpSender) close() error {
	if s.own {
		s.client.CloseIdleConnections()
	}
	return nil
}
