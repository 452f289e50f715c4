package devicesim_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"log"
	"slices"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
)

// exampleTB runs test fixtures outside a test: failures panic and
// cleanups run at Close.
type exampleTB struct{ cleanups []func() }

func (*exampleTB) Helper()            {}
func (*exampleTB) Fatal(args ...any)  { panic(fmt.Sprint(args...)) }
func (e *exampleTB) Cleanup(f func()) { e.cleanups = append(e.cleanups, f) }
func (e *exampleTB) Close() {
	for _, f := range slices.Backward(e.cleanups) {
		f()
	}
}

// A simulated iPhone enrolls through the portal of an enrollkit server,
// answers a command and checks out. newRealServer (integration_test.go)
// runs enroll's portal, a SCEP server and mdm's Service in-process over
// TLS; any server reachable over HTTP works the same way.
func ExampleDevice_EnrollWithInvitation() {
	ctx := context.Background()
	env := &exampleTB{}
	defer env.Close()
	server := newRealServer(env, nil)

	// The server invites the user; the invitation carries the link and the
	// one-time passcode.
	inv, err := server.svc.CreateInvitation(ctx, enroll.Meta{Actor: "admin"}, enroll.User{ID: "u-1", Name: "Alice"})
	if err != nil {
		log.Fatal(err)
	}

	// The device trusts the server's TLS certificate and its profile
	// signing root.
	roots := x509.NewCertPool()
	roots.AddCert(sharedPKI(env).ca)
	phone, err := devicesim.New(devicesim.Options{HTTPClient: server.srv.Client(), ProfileRoots: roots})
	if err != nil {
		log.Fatal(err)
	}
	err = phone.EnrollWithInvitation(ctx, inv.URL, devicesim.Credentials{
		Username: "alice", Password: "correct horse", Passcode: inv.Passcode,
	})
	if err != nil {
		log.Fatal(err)
	}
	e, _ := server.svc.Get(ctx, inv.EnrollmentID)
	fmt.Println("state:", e.State)

	// Queue a command, then poll as the device does when pushed.
	enr, _ := phone.Enrollment()
	cmd, _ := mdm.NewCommand("cmd-1", map[string]any{"RequestType": "DeviceInformation", "Queries": []string{"OSVersion", "UDID"}})
	if _, err := server.mdm.Enqueue(ctx, cmd, mdm.EnrollmentID(enr.EnrollmentID)); err != nil {
		log.Fatal(err)
	}
	n, err := phone.Poll(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("commands answered:", n, phone.Commands()[0].Status)

	// The user removes management: the device checks out.
	if err := phone.Remove(ctx); err != nil {
		log.Fatal(err)
	}
	e, _ = server.svc.Get(ctx, inv.EnrollmentID)
	fmt.Println("state:", e.State)
	// Output:
	// state: enrolled
	// commands answered: 1 Acknowledged
	// state: removed
}

func ExampleParseWWWAuthenticate() {
	chs, err := devicesim.ParseWWWAuthenticate(`Bearer method="apple-as-web" url="https://portal.example.com/account?x=1"`)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(chs[0].Scheme, chs[0].Params["method"], chs[0].Params["url"])
	// Output: Bearer apple-as-web https://portal.example.com/account?x=1
}
