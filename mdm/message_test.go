package mdm_test

import (
	"errors"
	"reflect"
	"testing"

	"howett.net/plist"

	"github.com/enrollkit/enrollkit/mdm"
)

func TestDecodeCheckin(t *testing.T) {
	binaryTokenUpdate, err := plist.Marshal(map[string]any{
		"MessageType": "TokenUpdate", "Topic": topic, "EnrollmentID": "UE-BIN",
		"Token": []byte{1, 2, 3}, "PushMagic": "pm", "NotOnConsole": false,
	}, plist.BinaryFormat)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		body     []byte
		want     mdm.Message
		wantEnr  mdm.Channel
		wantErr  error
		errField string
	}{
		{
			name: "iOS User Enrollment Authenticate (the six keys a device sends)",
			body: plistDoc(`<key>BuildVersion</key><string>22B83</string><key>EnrollmentID</key><string>A1B2</string><key>MessageType</key><string>Authenticate</string><key>OSVersion</key><string>18.1</string><key>ProductName</key><string>iPhone16,1</string><key>Topic</key><string>` + topic + `</string>`),
			want: &mdm.Authenticate{Header: mdm.Header{MessageType: mdm.MessageAuthenticate, Topic: topic, Identifiers: mdm.Identifiers{EnrollmentID: "A1B2"}},
				BuildVersion: "22B83", OSVersion: "18.1", ProductName: "iPhone16,1"},
			wantEnr: mdm.Channel{ID: "A1B2", Type: mdm.UserEnrollmentDevice},
		},
		{
			name: "device Authenticate",
			body: plistDoc(`<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>00008110-0001</string><key>SerialNumber</key><string>F9FX</string><key>IMEI</key><string>35 000000 000000 0</string><key>Topic</key><string>t</string>`),
			want: &mdm.Authenticate{Header: mdm.Header{MessageType: mdm.MessageAuthenticate, Topic: "t", Identifiers: mdm.Identifiers{UDID: "00008110-0001"}},
				SerialNumber: "F9FX", IMEI: "35 000000 000000 0"},
			wantEnr: mdm.Channel{ID: "00008110-0001", Type: mdm.Device},
		},
		{
			name: "binary TokenUpdate",
			body: binaryTokenUpdate,
			want: &mdm.TokenUpdate{Header: mdm.Header{MessageType: mdm.MessageTokenUpdate, Topic: topic, Identifiers: mdm.Identifiers{EnrollmentID: "UE-BIN"}},
				Token: []byte{1, 2, 3}, PushMagic: "pm"},
			wantEnr: mdm.Channel{ID: "UE-BIN", Type: mdm.UserEnrollmentDevice},
		},
		{
			name: "user-enrollment user channel TokenUpdate",
			body: plistDoc(`<key>MessageType</key><string>TokenUpdate</string><key>EnrollmentID</key><string>E</string><key>EnrollmentUserID</key><string>EU</string><key>Token</key><data>AQ==</data><key>PushMagic</key><string>p</string><key>UnlockToken</key><data>Ag==</data><key>AwaitingConfiguration</key><true/>`),
			want: &mdm.TokenUpdate{Header: mdm.Header{MessageType: mdm.MessageTokenUpdate, Identifiers: mdm.Identifiers{EnrollmentID: "E", EnrollmentUserID: "EU"}},
				Token: []byte{1}, PushMagic: "p", UnlockToken: []byte{2}, AwaitingConfiguration: true},
			wantEnr: mdm.Channel{ID: "E:EU", Type: mdm.UserEnrollmentUser, ParentID: "E"},
		},
		{
			name: "shared iPad user CheckOut",
			body: plistDoc(`<key>MessageType</key><string>CheckOut</string><key>UDID</key><string>U</string><key>UserID</key><string>FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF</string><key>UserShortName</key><string>alice@example.com</string>`),
			want: &mdm.CheckOut{Header: mdm.Header{MessageType: mdm.MessageCheckOut, Identifiers: mdm.Identifiers{UDID: "U",
				UserID: "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", UserShortName: "alice@example.com"}}},
			wantEnr: mdm.Channel{ID: "U:alice@example.com", Type: mdm.SharedIPadUser, ParentID: "U"},
		},
		{
			name: "macOS user channel UserAuthenticate",
			body: plistDoc(`<key>MessageType</key><string>UserAuthenticate</string><key>UDID</key><string>U</string><key>UserID</key><string>501</string><key>UserLongName</key><string>Alice</string><key>DigestResponse</key><string>d</string>`),
			want: &mdm.UserAuthenticate{Header: mdm.Header{MessageType: mdm.MessageUserAuthenticate, Identifiers: mdm.Identifiers{UDID: "U", UserID: "501", UserLongName: "Alice"}},
				DigestResponse: "d"},
			wantEnr: mdm.Channel{ID: "U:501", Type: mdm.User, ParentID: "U"},
		},
		{
			name:    "SetBootstrapToken",
			body:    plistDoc(`<key>MessageType</key><string>SetBootstrapToken</string><key>UDID</key><string>U</string><key>BootstrapToken</key><data>AAE=</data>`),
			want:    &mdm.SetBootstrapToken{Header: mdm.Header{MessageType: mdm.MessageSetBootstrapToken, Identifiers: mdm.Identifiers{UDID: "U"}}, BootstrapToken: []byte{0, 1}},
			wantEnr: mdm.Channel{ID: "U", Type: mdm.Device},
		},
		{
			name:    "GetBootstrapToken",
			body:    plistDoc(`<key>MessageType</key><string>GetBootstrapToken</string><key>UDID</key><string>U</string><key>AwaitingConfiguration</key><false/>`),
			want:    &mdm.GetBootstrapToken{Header: mdm.Header{MessageType: mdm.MessageGetBootstrapToken, Identifiers: mdm.Identifiers{UDID: "U"}}},
			wantEnr: mdm.Channel{ID: "U", Type: mdm.Device},
		},
		{
			name: "DeclarativeManagement",
			body: plistDoc(`<key>MessageType</key><string>DeclarativeManagement</string><key>EnrollmentID</key><string>E</string><key>Endpoint</key><string>status</string><key>Data</key><data>e30=</data>`),
			want: &mdm.DeclarativeManagement{Header: mdm.Header{MessageType: mdm.MessageDeclarativeManagement, Identifiers: mdm.Identifiers{EnrollmentID: "E"}},
				Endpoint: "status", Data: []byte("{}")},
			wantEnr: mdm.Channel{ID: "E", Type: mdm.UserEnrollmentDevice},
		},
		{
			name: "GetToken",
			body: plistDoc(`<key>MessageType</key><string>GetToken</string><key>EnrollmentID</key><string>E</string><key>TokenServiceType</key><string>com.apple.maid</string><key>TokenParameters</key><dict><key>PhoneUDID</key><string>P</string></dict>`),
			want: &mdm.GetToken{Header: mdm.Header{MessageType: mdm.MessageGetToken, Identifiers: mdm.Identifiers{EnrollmentID: "E"}},
				TokenServiceType: "com.apple.maid", TokenParameters: map[string]any{"PhoneUDID": "P"}},
			wantEnr: mdm.Channel{ID: "E", Type: mdm.UserEnrollmentDevice},
		},
		{name: "missing MessageType", body: plistDoc(`<key>EnrollmentID</key><string>E</string>`), wantErr: mdm.ErrMissingMessageType, errField: "MessageType"},
		{name: "unknown MessageType", body: plistDoc(`<key>MessageType</key><string>Explode</string><key>UDID</key><string>U</string>`), wantErr: mdm.ErrUnknownMessageType, errField: "MessageType"},
		{name: "MessageType of the wrong type", body: plistDoc(`<key>MessageType</key><integer>3</integer><key>UDID</key><string>U</string>`), wantErr: mdm.ErrMalformed},
		{name: "Token of the wrong type", body: plistDoc(`<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>U</string><key>Token</key><string>AQ==</string><key>PushMagic</key><string>p</string>`), wantErr: mdm.ErrMalformed},
		{name: "TokenUpdate without Token", body: plistDoc(`<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>U</string>`), wantErr: mdm.ErrMalformed, errField: "Token"},
		{name: "no enrollment identity", body: plistDoc(`<key>MessageType</key><string>CheckOut</string>`), wantErr: mdm.ErrNoEnrollmentID},
		{name: "both UDID and EnrollmentID", body: plistDoc(`<key>MessageType</key><string>CheckOut</string><key>UDID</key><string>U</string><key>EnrollmentID</key><string>E</string>`), wantErr: mdm.ErrNoEnrollmentID},
		{name: "shared iPad user without short name", body: plistDoc(`<key>MessageType</key><string>CheckOut</string><key>UDID</key><string>U</string><key>UserID</key><string>FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF</string>`), wantErr: mdm.ErrNoEnrollmentID},
		{name: "OpenStep text is not a device format", body: []byte(`{ MessageType = CheckOut; UDID = U; }`), wantErr: mdm.ErrMalformed},
		{name: "truncated XML", body: plistDoc(`<key>MessageType</key><string>CheckOut`)[:60], wantErr: mdm.ErrMalformed},
		{name: "empty", body: nil, wantErr: mdm.ErrMalformed},
		{name: "array at top level", body: []byte(`<plist><array><string>x</string></array></plist>`), wantErr: mdm.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := mdm.DecodeCheckin(tc.body)
			if tc.wantErr != nil {
				var de *mdm.DecodeError
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &de) {
					t.Fatalf("err = %v, want a DecodeError matching %v", err, tc.wantErr)
				}
				if tc.errField != "" && de.Field != tc.errField {
					t.Fatalf("Field = %q, want %q", de.Field, tc.errField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(m.CheckinHeader().Raw) != string(tc.body) {
				t.Fatal("Raw is not the body")
			}
			m.CheckinHeader().Raw = nil
			if !reflect.DeepEqual(m, tc.want) {
				t.Fatalf("got  %#v\nwant %#v", m, tc.want)
			}
			e, err := m.CheckinHeader().Resolve()
			if err != nil || e != tc.wantEnr {
				t.Fatalf("Resolve = %+v, %v; want %+v", e, err, tc.wantEnr)
			}
		})
	}
}

func TestDecodeCommandResult(t *testing.T) {
	tests := []struct {
		name    string
		body    []byte
		want    *mdm.CommandResult
		wantErr error
	}{
		{"Idle", plistDoc(`<key>Status</key><string>Idle</string><key>EnrollmentID</key><string>E</string>`),
			&mdm.CommandResult{Identifiers: mdm.Identifiers{EnrollmentID: "E"}, Status: mdm.StatusIdle}, nil},
		{"Acknowledged keeps the payload in Raw", plistDoc(`<key>Status</key><string>Acknowledged</string><key>UDID</key><string>U</string><key>CommandUUID</key><string>C</string><key>QueryResponses</key><dict><key>OSVersion</key><string>18.1</string></dict>`),
			&mdm.CommandResult{Identifiers: mdm.Identifiers{UDID: "U"}, Status: mdm.StatusAcknowledged, CommandUUID: "C"}, nil},
		{"Error with ErrorChain", plistDoc(`<key>Status</key><string>Error</string><key>EnrollmentID</key><string>E</string><key>CommandUUID</key><string>C</string><key>ErrorChain</key><array><dict><key>ErrorCode</key><integer>12021</integer><key>ErrorDomain</key><string>MCMDMErrorDomain</string><key>LocalizedDescription</key><string>Not allowed</string><key>USEnglishDescription</key><string>Not allowed</string></dict></array>`),
			&mdm.CommandResult{Identifiers: mdm.Identifiers{EnrollmentID: "E"}, Status: mdm.StatusError, CommandUUID: "C",
				ErrorChain: []mdm.ErrorChainItem{{ErrorCode: 12021, ErrorDomain: "MCMDMErrorDomain", LocalizedDescription: "Not allowed", USEnglishDescription: "Not allowed"}}}, nil},
		{"NotNow", plistDoc(`<key>Status</key><string>NotNow</string><key>EnrollmentID</key><string>E</string><key>CommandUUID</key><string>C</string>`),
			&mdm.CommandResult{Identifiers: mdm.Identifiers{EnrollmentID: "E"}, Status: mdm.StatusNotNow, CommandUUID: "C"}, nil},
		{"CommandFormatError", plistDoc(`<key>Status</key><string>CommandFormatError</string><key>EnrollmentID</key><string>E</string><key>CommandUUID</key><string>C</string>`),
			&mdm.CommandResult{Identifiers: mdm.Identifiers{EnrollmentID: "E"}, Status: mdm.StatusCommandFormatError, CommandUUID: "C"}, nil},
		{"unknown Status", plistDoc(`<key>Status</key><string>Maybe</string><key>EnrollmentID</key><string>E</string>`), nil, mdm.ErrUnknownStatus},
		{"result without CommandUUID", plistDoc(`<key>Status</key><string>Acknowledged</string><key>EnrollmentID</key><string>E</string>`), nil, mdm.ErrMalformed},
		{"no identity", plistDoc(`<key>Status</key><string>Idle</string>`), nil, mdm.ErrNoEnrollmentID},
		{"ErrorChain of the wrong type", plistDoc(`<key>Status</key><string>Error</string><key>EnrollmentID</key><string>E</string><key>CommandUUID</key><string>C</string><key>ErrorChain</key><string>x</string>`), nil, mdm.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := mdm.DecodeCommandResult(tc.body)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Raw) != string(tc.body) {
				t.Fatal("Raw is not the body")
			}
			r.Raw = nil
			if !reflect.DeepEqual(r, tc.want) {
				t.Fatalf("got  %#v\nwant %#v", r, tc.want)
			}
		})
	}
}

func TestDecodeRoutes(t *testing.T) {
	v, err := mdm.Decode(plistDoc(`<key>MessageType</key><string>CheckOut</string><key>EnrollmentID</key><string>E</string>`))
	if _, ok := v.(*mdm.CheckOut); !ok || err != nil {
		t.Fatalf("check-in routed to %T, %v", v, err)
	}
	v, err = mdm.Decode(plistDoc(`<key>Status</key><string>Idle</string><key>EnrollmentID</key><string>E</string>`))
	if _, ok := v.(*mdm.CommandResult); !ok || err != nil {
		t.Fatalf("result routed to %T, %v", v, err)
	}
	if _, err := mdm.Decode(plistDoc(`<key>EnrollmentID</key><string>E</string>`)); !errors.Is(err, mdm.ErrMissingMessageType) {
		t.Fatalf("neither: %v", err)
	}
}

func TestCommandEncoding(t *testing.T) {
	type deviceInformation struct {
		RequestType string
		Queries     []string
	}
	c, err := mdm.NewCommand("5F1E-0001", deviceInformation{RequestType: "DeviceInformation", Queries: []string{"OSVersion", "ModelName"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.UUID != "5F1E-0001" || c.RequestType != "DeviceInformation" {
		t.Fatalf("command = %+v", c)
	}
	var back struct {
		CommandUUID string
		Command     deviceInformation
	}
	if _, err := plist.Unmarshal(c.Raw, &back); err != nil || back.Command.Queries[1] != "ModelName" || back.CommandUUID != "5F1E-0001" {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	for _, bad := range []struct {
		uuid    string
		payload any
	}{{"", map[string]any{"RequestType": "X"}}, {"u", map[string]any{"Queries": 1}}, {"u", func() {}}} {
		if _, err := mdm.NewCommand(bad.uuid, bad.payload); err == nil {
			t.Errorf("NewCommand(%q, %T) accepted", bad.uuid, bad.payload)
		}
	}
	if _, err := mdm.ParseCommand([]byte("nope")); !errors.Is(err, mdm.ErrMalformed) {
		t.Errorf("ParseCommand(garbage) = %v", err)
	}
	if _, err := mdm.ParseCommand(plistDoc(`<key>CommandUUID</key><integer>1</integer>`)); !errors.Is(err, mdm.ErrMalformed) {
		t.Errorf("ParseCommand(wrong type) = %v", err)
	}
}

func TestEnrollmentTypeNames(t *testing.T) {
	for _, tt := range []mdm.EnrollmentType{mdm.Device, mdm.User, mdm.UserEnrollmentDevice, mdm.UserEnrollmentUser, mdm.SharedIPadUser} {
		back, err := mdm.ParseEnrollmentType(tt.String())
		if err != nil || back != tt {
			t.Errorf("ParseEnrollmentType(%q) = %v, %v", tt.String(), back, err)
		}
	}
	if _, err := mdm.ParseEnrollmentType("nope"); err == nil {
		t.Error("unknown type parsed")
	}
	if mdm.EnrollmentType(42).String() != "EnrollmentType(42)" {
		t.Error(mdm.EnrollmentType(42).String())
	}
	if !mdm.UserEnrollmentUser.IsUserEnrollment() || mdm.Device.IsUserEnrollment() || !mdm.SharedIPadUser.IsUserChannel() || mdm.UserEnrollmentDevice.IsUserChannel() {
		t.Error("predicates")
	}
}
