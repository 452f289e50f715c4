package devicesim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/enrollkit/enrollkit/internal/plistcheck"
	"github.com/enrollkit/enrollkit/profile"
)

// maxCommandsPerPoll bounds one Poll, so that a server that never empties
// its queue cannot keep the device busy forever.
const maxCommandsPerPoll = 1000

// CommandRecord is one command the device answered.
type CommandRecord struct {
	// CommandUUID and RequestType are the command's.
	CommandUUID string
	RequestType string
	// Status is what the device answered: Acknowledged, Error or
	// CommandFormatError.
	Status string
	// ErrorChain is the ErrorChain of an Error.
	ErrorChain []ErrorChainItem
	// Time is when the device answered.
	Time time.Time
}

// ErrorChainItem is one entry of an Error response's ErrorChain.
type ErrorChainItem struct {
	ErrorCode            int
	ErrorDomain          string
	LocalizedDescription string
	USEnglishDescription string
}

// installedProfile is one profile as ProfileList reports it.
type installedProfile struct {
	info map[string]any
}

// Push wakes the device as an MDM push would: Run polls the server soon
// after. It never blocks; pushes arriving while a poll is pending coalesce,
// as APNs does.
func (d *Device) Push() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run waits for pushes and, after each, polls until the server's queue is
// empty: on a Mac with a user channel, the device channel's queue and then
// the user channel's. It returns ctx.Err() when ctx is done, or the first
// Poll error.
func (d *Device) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.wake:
			if _, err := d.Poll(ctx); err != nil {
				return err
			}
			if _, err := d.PollUser(ctx); err != nil && !errors.Is(err, ErrNoUserChannel) {
				return err
			}
		}
	}
}

// Commands returns the commands answered so far, oldest first.
func (d *Device) Commands() []CommandRecord {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.history)
}

// Poll does what a device does when pushed: it reports Idle to the
// ServerURL and answers each command the server returns, until the server
// answers with an empty body. It returns the number of commands answered.
func (d *Device) Poll(ctx context.Context) (int, error) {
	return d.poll(ctx, channelDevice)
}

// PollUser is Poll over a Mac's user channel. It returns ErrNoUserChannel
// when the device has none.
func (d *Device) PollUser(ctx context.Context) (int, error) {
	return d.poll(ctx, channelUser)
}

func (d *Device) poll(ctx context.Context, ch channel) (int, error) {
	d.reqMu.Lock()
	defer d.reqMu.Unlock()
	enr, client, err := d.session()
	if err != nil {
		return 0, err
	}
	if ch == channelUser && enr.EnrollmentUserID == "" {
		return 0, ErrNoUserChannel
	}
	msg := d.idle(enr, ch)
	for n := 0; ; n++ {
		body, err := d.mdmRequest(ctx, client, enr, ch, enr.ServerURL, "application/x-apple-aspen-mdm", "command "+msg["Status"].(string), msg)
		if err != nil {
			return n, err
		}
		if len(bytes.TrimSpace(body)) == 0 {
			d.mu.Lock()
			remove := d.removeRequested && d.enr == enr
			d.mu.Unlock()
			if remove {
				return n, d.remove(ctx)
			}
			return n, d.syncIfAsked(ctx, enr, client)
		}
		if n == maxCommandsPerPoll {
			return n, fmt.Errorf("devicesim: poll: server still sends commands after %d", n)
		}
		msg = d.answer(ctx, enr, body)
		if ch == channelUser {
			msg["EnrollmentUserID"] = enr.EnrollmentUserID
		}
		if d.takeLoss() {
			d.log.InfoContext(ctx, "devicesim: response lost in transit", "command_uuid", msg["CommandUUID"])
			return n + 1, nil
		}
	}
}

// idle is the Idle report over channel ch.
func (d *Device) idle(enr *Enrollment, ch channel) map[string]any {
	msg := map[string]any{"Status": "Idle", "EnrollmentID": enr.EnrollmentID}
	if ch == channelUser {
		msg["EnrollmentUserID"] = enr.EnrollmentUserID
	}
	return msg
}

// LoseResponses makes the device's responses to the next n commands it
// receives get lost in transit, as when the network drops between device
// and server: the device carries each command out and records it in
// Commands, but its answer never reaches the server, and the poll ends
// there. The server sees a command handed out and never answered.
func (d *Device) LoseResponses(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.loseNext = n
}

// takeLoss reports whether the response at hand is to be lost, and counts
// it.
func (d *Device) takeLoss() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.loseNext <= 0 {
		return false
	}
	d.loseNext--
	return true
}

// answer decodes one command and returns the device's response.
func (d *Device) answer(ctx context.Context, enr *Enrollment, body []byte) map[string]any {
	cmd, err := parseCommand(body)
	reqType := cmd.RequestType
	res := map[string]any{"EnrollmentID": enr.EnrollmentID}
	if cmd.CommandUUID != "" {
		res["CommandUUID"] = cmd.CommandUUID
	}
	rec := CommandRecord{CommandUUID: cmd.CommandUUID, RequestType: reqType}
	if err != nil {
		res["Status"] = "CommandFormatError"
		rec.Status = "CommandFormatError"
	} else {
		result, chain := d.execute(enr, reqType, cmd.Fields)
		if chain != nil {
			res["Status"] = "Error"
			var items []map[string]any
			for _, c := range chain {
				items = append(items, map[string]any{"ErrorCode": c.ErrorCode, "ErrorDomain": c.ErrorDomain,
					"LocalizedDescription": c.LocalizedDescription, "USEnglishDescription": c.USEnglishDescription})
			}
			res["ErrorChain"] = items
			rec.Status, rec.ErrorChain = "Error", chain
		} else {
			res["Status"] = "Acknowledged"
			rec.Status = "Acknowledged"
			for k, v := range result {
				res[k] = v
			}
		}
	}
	rec.Time = time.Now()
	d.mu.Lock()
	d.history = append(d.history, rec)
	d.mu.Unlock()
	d.log.InfoContext(ctx, "devicesim: command answered", "request_type", reqType, "command_uuid", cmd.CommandUUID, "status", rec.Status)
	return res
}

// command is a command as the server sent it.
type command struct {
	// CommandUUID identifies the command.
	CommandUUID string
	// RequestType is Command.RequestType.
	RequestType string
	// Fields is the Command dictionary, RequestType included.
	Fields map[string]any
}

// parseCommand decodes a command body sent by the server:
// {CommandUUID, Command: {RequestType, …}}. Hostile input gives an error,
// never a panic. On error the returned Command holds whatever could be
// read (possibly the CommandUUID, so that the device can answer
// CommandFormatError for it).
func parseCommand(body []byte) (command, error) {
	var raw struct {
		CommandUUID any
		Command     any
	}
	// Commands decode into map[string]any: shared containers in a binary
	// plist, or deep XML, would cost far more than the body's size.
	if _, err := plistcheck.Unmarshal(body, &raw); err != nil {
		return command{}, fmt.Errorf("devicesim: command: %w", err)
	}
	var c command
	c.CommandUUID, _ = raw.CommandUUID.(string)
	fields, _ := raw.Command.(map[string]any)
	if c.CommandUUID == "" || fields == nil {
		return c, errors.New("devicesim: command: CommandUUID and a Command dictionary are required")
	}
	c.RequestType = str(fields, "RequestType")
	if c.RequestType == "" {
		return c, errors.New("devicesim: command: Command has no RequestType")
	}
	c.Fields = fields
	return c, nil
}

// Error domains and codes the device reports, as iOS does.
const (
	mdmErrorDomain     = "MCMDMErrorDomain"
	profileErrorDomain = "MCProfileErrorDomain"
)

func mdmError(code int, desc string) []ErrorChainItem {
	return []ErrorChainItem{{ErrorCode: code, ErrorDomain: mdmErrorDomain, LocalizedDescription: desc, USEnglishDescription: desc}}
}

// forbiddenUnderUE are commands iOS knows but refuses for a User Enrollment.
var forbiddenUnderUE = map[string]bool{
	"EraseDevice": true, "DeviceLocation": true, "EnableLostMode": true, "DisableLostMode": true,
	"PlayLostModeSound": true, "ClearPasscode": true, "RestartDevice": true, "ShutDownDevice": true,
	"Restrictions": true, "UserList": true, "ScheduleOSUpdate": true, "ScheduleOSUpdateScan": true,
	"AvailableOSUpdates": true, "OSUpdateStatus": true, "ActivationLockBypassCode": true,
	"ClearActivationLockBypassCode": true, "ClearRestrictionsPassword": true, "RefreshCellularPlans": true,
}

// execute runs one command and returns its result keys, or an ErrorChain.
func (d *Device) execute(enr *Enrollment, reqType string, cmd map[string]any) (map[string]any, []ErrorChainItem) {
	switch reqType {
	case "DeviceInformation":
		return map[string]any{"QueryResponses": d.deviceInformation(enr, cmd["Queries"])}, nil
	case "ProfileList":
		d.mu.Lock()
		list := make([]map[string]any, 0, len(d.profiles))
		for _, p := range d.profiles {
			list = append(list, p.info)
		}
		d.mu.Unlock()
		return map[string]any{"ProfileList": list}, nil
	case "InstallProfile":
		return d.installProfileCommand(cmd)
	case "RemoveProfile":
		id := str(cmd, "Identifier")
		d.mu.Lock()
		defer d.mu.Unlock()
		if id == enr.ProfileIdentifier && id != "" {
			// The server ends the enrollment: the device acknowledges,
			// then removes the enrollment profile and checks out.
			d.removeRequested = true
			return nil, nil
		}
		for i, p := range d.profiles {
			if str(p.info, "PayloadIdentifier") == id && id != enr.ProfileIdentifier {
				d.profiles = slices.Delete(d.profiles, i, i+1)
				return nil, nil
			}
		}
		return nil, []ErrorChainItem{{ErrorCode: 1001, ErrorDomain: profileErrorDomain,
			LocalizedDescription: "The profile “" + id + "” could not be found.", USEnglishDescription: "The profile “" + id + "” could not be found."}}
	case "InstalledApplicationList":
		return map[string]any{"InstalledApplicationList": d.installedApps(cmd)}, nil
	case "ManagedApplicationList":
		apps := map[string]any{}
		for _, a := range d.installedApps(cmd) {
			apps[a["Identifier"].(string)] = map[string]any{"Status": "Managed", "ManagementFlags": 0,
				"HasConfiguration": false, "HasFeedback": false, "IsValidated": true}
		}
		return map[string]any{"ManagedApplicationList": apps}, nil
	case "SecurityInfo":
		// Only the keys Apple's schema allows under User Enrollment.
		return map[string]any{"SecurityInfo": map[string]any{
			"HardwareEncryptionCaps": 3, "PasscodeCompliant": true,
			"ManagementStatus": map[string]any{"IsUserEnrollment": true},
		}}, nil
	case "CertificateList":
		// Under User Enrollment only the enrollment's own certificates
		// are visible.
		return map[string]any{"CertificateList": []map[string]any{{
			"CommonName": enr.Certificate.Subject.CommonName, "IsIdentity": true, "Data": enr.Certificate.Raw,
		}}}, nil
	case "DeviceLock":
		return map[string]any{}, nil
	case "DeclarativeManagement":
		return d.declarativeManagementCommand(cmd)
	}
	if forbiddenUnderUE[reqType] {
		return nil, mdmError(12081, "The command “"+reqType+"” is not allowed for this type of enrollment.")
	}
	return nil, mdmError(12021, "Unknown command “"+reqType+"”.")
}

// ueDeviceInformation lists the DeviceInformation queries an iOS User
// Enrollment answers (Apple's schema, userenrollment mode not forbidden),
// with plausible values for an iPhone 15. Keys the schema forbids under
// User Enrollment (UDID, SerialNumber, IMEI, MEID, …) are never answered.
func (d *Device) ueDeviceInformation(enr *Enrollment) map[string]any {
	return map[string]any{
		"DeviceName":                    d.opts.DeviceName,
		"OSVersion":                     d.opts.OSVersion,
		"BuildVersion":                  d.opts.BuildVersion,
		"SupplementalBuildVersion":      d.opts.BuildVersion,
		"ModelName":                     d.modelName(),
		"Model":                         "MTLW3",
		"ModelNumber":                   "MTLW3",
		"ProductName":                   d.opts.ProductName,
		"DeviceCapacity":                128.0,
		"AvailableDeviceCapacity":       87.42,
		"CellularTechnology":            3,
		"BatteryLevel":                  0.86,
		"IsSupervised":                  false,
		"IsMultiUser":                   false,
		"IsDeviceLocatorServiceEnabled": true,
		"EASDeviceIdentifier":           easIdentifier(enr.EnrollmentID),
		"DiagnosticSubmissionEnabled":   false,
		"AppAnalyticsEnabled":           false,
		"TimeZone":                      "Europe/Berlin",
		"IsNetworkTethered":             false,
	}
}

// easIdentifier derives the per-enrollment Exchange identifier (32 upper
// hex digits) from the enrollment ID.
func easIdentifier(enrollmentID string) string {
	sum := sha256.Sum256([]byte("eas:" + enrollmentID))
	return strings.ToUpper(hex.EncodeToString(sum[:16]))
}

func (d *Device) deviceInformation(enr *Enrollment, queries any) map[string]any {
	all := d.ueDeviceInformation(enr)
	out := map[string]any{}
	qs, _ := queries.([]any)
	for _, q := range qs {
		if k, ok := q.(string); ok {
			if v, ok := all[k]; ok {
				out[k] = v
			}
		}
	}
	return out
}

func (d *Device) installedApps(cmd map[string]any) []map[string]any {
	var ids []string
	if l, ok := cmd["Identifiers"].([]any); ok {
		for _, v := range l {
			if s, ok := v.(string); ok {
				ids = append(ids, s)
			}
		}
	}
	var items []string
	if l, ok := cmd["Items"].([]any); ok {
		for _, v := range l {
			if s, ok := v.(string); ok {
				items = append(items, s)
			}
		}
	}
	out := []map[string]any{}
	for _, a := range d.opts.Apps {
		if len(ids) > 0 && !slices.Contains(ids, a.Identifier) {
			continue
		}
		m := map[string]any{
			"Identifier": a.Identifier, "Name": a.Name, "Version": a.Version, "ShortVersion": a.ShortVersion,
			"BundleSize": a.BundleSize, "DynamicSize": a.BundleSize / 10, "IsValidated": true, "Installing": false,
			"AppStoreVendable": true, "DeviceBasedVPP": false, "BetaApp": false, "AdHocCodeSigned": false,
			"HasUpdateAvailable": false, "IsAppClip": false,
		}
		if len(items) > 0 {
			for k := range m {
				if k != "Identifier" && !slices.Contains(items, k) {
					delete(m, k)
				}
			}
		}
		out = append(out, m)
	}
	return out
}

func (d *Device) installProfileCommand(cmd map[string]any) (map[string]any, []ErrorChainItem) {
	fail := func(desc string) (map[string]any, []ErrorChainItem) {
		return nil, []ErrorChainItem{{ErrorCode: 1000, ErrorDomain: profileErrorDomain, LocalizedDescription: desc, USEnglishDescription: desc}}
	}
	raw, ok := cmd["Payload"].([]byte)
	if !ok || len(raw) == 0 {
		return fail("The profile is missing.")
	}
	parsed, err := profile.Parse(raw, profile.ParseOptions{})
	if err != nil {
		return fail("The profile could not be read: " + err.Error())
	}
	p := parsed.Profile
	if err := p.Validate(profile.ValidateOptions{}); err != nil {
		return fail("The profile is not valid: " + err.Error())
	}
	if p.MDM() != nil {
		return fail("An MDM profile can only be installed by the user.")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, ip := range d.profiles {
		if str(ip.info, "PayloadIdentifier") == p.PayloadIdentifier {
			if i == 0 {
				return fail("The profile “" + p.PayloadIdentifier + "” is already installed and cannot be replaced.")
			}
			d.profiles[i].info = profileSummary(p, parsed.Chain)
			return nil, nil
		}
	}
	d.profiles = append(d.profiles, installedProfile{info: profileSummary(p, parsed.Chain)})
	return nil, nil
}

// modelName is DeviceInformation's ModelName.
func (d *Device) modelName() string {
	if d.IsMac() {
		return "Mac"
	}
	return "iPhone"
}
