package enrollkittest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/enrollkit/enrollkit/enrollkittest"
	"github.com/enrollkit/enrollkit/mdm"
)

// A host's integration test starts the whole server, invites the demo user
// and lets a simulated iPhone enroll, once through the invitation link
// (profile-based User Enrollment) and once from its Managed Apple Account
// (account-driven). A queued command reaches the device through the APNs
// stand-in.
func Example() {
	var t testing.TB = &testing.T{} // in a host's test: its t, which closes the server at the end
	ctx := context.Background()
	srv := enrollkittest.NewServer(t, enrollkittest.Options{}) // or Options{Authenticator: myUsers, Directory: myDirectory}
	defer srv.Close()

	// Profile-based: the user opens the invitation link on the iPhone.
	inv := srv.Invite(t, enrollkittest.DemoUser)
	phone := srv.NewDevice(t)
	if err := phone.EnrollWithInvitation(ctx, inv.URL, enrollkittest.DemoCredentials(inv)); err != nil {
		fmt.Println(err)
		return
	}
	e, _ := srv.Enroll.Get(ctx, inv.EnrollmentID)
	fmt.Println("invitation:", e.State)

	// Account-driven: the user signs in with the Managed Apple Account in
	// Settings; the device discovers the server from the account's domain.
	inv = srv.Invite(t, enrollkittest.DemoUser)
	phone = srv.NewDevice(t)
	if err := phone.EnrollWithAccount(ctx, enrollkittest.DemoManagedAppleID, srv.URL, enrollkittest.DemoCredentials(inv)); err != nil {
		fmt.Println(err)
		return
	}
	e, _ = srv.Enroll.Get(ctx, inv.EnrollmentID)
	fmt.Println("account:", e.State, e.Flow)

	// A command is pushed, fetched and answered.
	enr, _ := phone.Enrollment()
	cmd, _ := mdm.NewCommand("cmd-1", map[string]any{"RequestType": "DeviceInformation", "Queries": []string{"OSVersion"}})
	if _, err := srv.MDM.Enqueue(ctx, cmd, mdm.EnrollmentID(enr.EnrollmentID)); err != nil {
		fmt.Println(err)
		return
	}
	// Enrolling queued DeclarativeManagement first, which starts
	// declarative management on the device.
	n, _ := phone.Poll(ctx)
	fmt.Println("commands answered:", n)
	for _, c := range phone.Commands() {
		fmt.Println(c.RequestType, c.Status)
	}
	// Output:
	// invitation: enrolled
	// account: enrolled account-driven
	// commands answered: 2
	// DeclarativeManagement Acknowledged
	// DeviceInformation Acknowledged
}
