package server

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/mdm"
)

// TestResponder: the Server's parts answer their message types and the
// host's Responder the rest.
func TestResponder(t *testing.T) {
	answer := func(s string) mdm.ResponderFunc {
		return func(context.Context, *mdm.Request) ([]byte, error) { return []byte(s), nil }
	}
	tokens := mdm.Tokens{"com.example.t": mdm.TokenIssuerFunc(func(context.Context, *mdm.Request) ([]byte, error) {
		return []byte("tok"), nil
	})}
	req := func(m mdm.Message) *mdm.Request { return &mdm.Request{Message: m} }
	getToken := req(&mdm.GetToken{Header: mdm.Header{MessageType: mdm.MessageGetToken}, TokenServiceType: "com.example.t"})
	ddm := req(&mdm.DeclarativeManagement{Header: mdm.Header{MessageType: mdm.MessageDeclarativeManagement}})
	for _, tt := range []struct {
		name          string
		cfg           Config
		getToken, ddm string // "" means 404
		nilResponder  bool
	}{
		{"nothing", Config{}, "", "", true},
		{"host only", Config{MDM: mdm.Config{Responder: answer("host")}}, "host", "host", false},
		{"tokens only", Config{Tokens: tokens}, "TokenData", "", false},
		{"tokens and host", Config{Tokens: tokens, MDM: mdm.Config{Responder: answer("host")}}, "TokenData", "host", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := responder(tt.cfg)
			if (r == nil) != tt.nilResponder {
				t.Fatalf("responder = %v", r)
			}
			if r == nil {
				return
			}
			for _, c := range []struct {
				req  *mdm.Request
				want string
			}{{getToken, tt.getToken}, {ddm, tt.ddm}} {
				out, err := r.Respond(t.Context(), c.req)
				switch {
				case c.want == "" && !errors.Is(err, mdm.ErrUnsupported):
					t.Errorf("%T: %q, %v; want ErrUnsupported", c.req.Message, out, err)
				case c.want != "" && (err != nil || !strings.Contains(string(out), c.want)):
					t.Errorf("%T: %q, %v; want %q", c.req.Message, out, err, c.want)
				}
			}
		})
	}
}
