package ddm_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/store/memory"
)

// A host defines declarations and a set, and asks what an assignment to a
// user-enrolled iPhone would serve and withhold. In a server, m is the
// mdm.Service whose Responder the ddm Service is (package server wires
// both).
func Example() {
	ctx := context.Background()
	m := &fakeMDM{records: map[mdm.EnrollmentID]*mdm.EnrollmentRecord{
		"iphone": {ID: "iphone", Type: mdm.UserEnrollmentDevice, ProductName: "iPhone16,2", OSVersion: "18.1", Enrolled: true},
	}}
	svc, err := ddm.New(memory.NewDDMStore(), m, ddm.Config{NoDefaultSubscriptions: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range []*ddm.Declaration{
		{Identifier: "passcode", Type: "com.apple.configuration.passcode.settings", Payload: json.RawMessage(`{"MinimumLength": 6}`)},
		{Identifier: "updates", Type: "com.apple.configuration.softwareupdate.settings", Payload: json.RawMessage(`{"Notifications": false}`)},
		{Identifier: "byod", Type: "com.apple.activation.simple", Payload: json.RawMessage(`{"StandardConfigurations": ["passcode"]}`)},
		{Identifier: "byod-updates", Type: "com.apple.activation.simple", Payload: json.RawMessage(`{"StandardConfigurations": ["updates"]}`)},
	} {
		if err := svc.PutDeclaration(ctx, d); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := svc.PutSet(ctx, "all BYOD", []string{"byod", "byod-updates"}); err != nil {
		fmt.Println(err)
		return
	}
	a := ddm.Assignment{Enrollment: "iphone", Sets: []string{"all BYOD"}}
	preview, err := svc.Preview(ctx, a)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, it := range preview.Items {
		fmt.Println("served:", it.Class, it.Identifier)
	}
	for _, w := range preview.Withheld {
		fmt.Println("withheld:", w.Identifier, w.Reason)
	}
	if err := svc.Assign(ctx, a); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("commands queued:", m.count())
	// Output:
	// served: activation byod
	// served: configuration passcode
	// withheld: byod-updates dependency
	// withheld: updates enrollment-type
	// commands queued: 1
}
