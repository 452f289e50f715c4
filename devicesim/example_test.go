package devicesim_test

import (
	"context"
	"fmt"
	"log"
	"testing"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enrollkittest"
	"github.com/enrollkit/enrollkit/mdm"
)

// A simulated iPhone enrolls through the portal of an enrollkit server,
// answers a command and checks out. Package enrollkittest runs the whole
// server in-process over TLS; any server reachable over HTTP works the
// same way.
func ExampleDevice_EnrollWithInvitation() {
	ctx := context.Background()
	var t testing.TB = &testing.T{} // in a test: its t
	server := enrollkittest.NewServer(t, enrollkittest.Options{})
	defer server.Close()

	// The server invites the user; the invitation carries the link and the
	// one-time passcode.
	inv, err := server.Enroll.CreateInvitation(ctx, enroll.Meta{Actor: "admin"}, enrollkittest.DemoUser)
	if err != nil {
		log.Fatal(err)
	}

	// The device trusts the server's TLS certificate and its profile
	// signing root.
	phone, err := devicesim.New(devicesim.Options{HTTPClient: server.Client(), ProfileRoots: server.ProfileRoots})
	if err != nil {
		log.Fatal(err)
	}
	err = phone.EnrollWithInvitation(ctx, inv.URL, devicesim.Credentials{
		Username: "alice", Password: "correct horse", Passcode: inv.Passcode,
	})
	if err != nil {
		log.Fatal(err)
	}
	e, _ := server.Enroll.Get(ctx, inv.EnrollmentID)
	fmt.Println("state:", e.State)

	// Queue a command, then poll as the device does when pushed.
	enr, _ := phone.Enrollment()
	cmd, _ := mdm.NewCommand("cmd-1", map[string]any{"RequestType": "DeviceInformation", "Queries": []string{"OSVersion", "UDID"}})
	if _, err := server.MDM.Enqueue(ctx, cmd, mdm.EnrollmentID(enr.EnrollmentID)); err != nil {
		log.Fatal(err)
	}
	// (The server's first command, queued at enrollment, is the
	// declarative management sync; the device answers both.)
	if _, err := phone.Poll(ctx); err != nil {
		log.Fatal(err)
	}
	for _, c := range phone.Commands() {
		if c.CommandUUID == "cmd-1" {
			fmt.Println("cmd-1:", c.Status)
		}
	}

	// The user removes management: the device checks out.
	if err := phone.Remove(ctx); err != nil {
		log.Fatal(err)
	}
	e, _ = server.Enroll.Get(ctx, inv.EnrollmentID)
	fmt.Println("state:", e.State)
	// Output:
	// state: enrolled
	// cmd-1: Acknowledged
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
