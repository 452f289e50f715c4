package ddm

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/enrollkit/enrollkit/mdm"
)

// To regenerate zz_schema.go, set APPLE_DEVICE_MANAGEMENT to a checkout of
// Apple's device-management schema repository and run go generate.
//go:generate go run ./internal/genschema -o zz_schema.go $APPLE_DEVICE_MANAGEMENT/declarative/declarations

// schemaType is what Apple's schema says about one declaration type.
type schemaType struct {
	platforms []schemaPlatform
	keyRules  []schemaKeyRule
	assetKeys map[string][]string
}

// schemaKeyRule restricts one payload key on one platform: path is the
// dotted path of dictionary keys to it (arrays are passed through, "ANY"
// is any key); nil enrollments or scopes are unrestricted.
type schemaKeyRule struct {
	path, platform      string
	enrollments, scopes []string
}

// schemaPlatform is one supportedOS entry: nil enrollments or scopes are
// unrestricted, empty ones allow none.
type schemaPlatform struct {
	platform, introduced string
	enrollments, scopes  []string
}

// Device is what filtering knows about an enrollment. Empty fields are
// unknown and are taken at their strictest.
type Device struct {
	// Platform is the schema's platform name: "iOS" (iPhone and iPad),
	// "macOS", "tvOS", "visionOS" or "watchOS". Unknown: a declaration
	// must be allowed on each platform User Enrollment exists on (iOS,
	// macOS, visionOS).
	Platform string
	// OSVersion is the OS release, such as "17.5". Unknown: the first
	// release of the platform that speaks declarative management.
	OSVersion string
	// Enrollment is the schema's enrollment type: "user" (User
	// Enrollment), "device", "supervised" or "local". Unknown: "user".
	Enrollment string
	// Scope is the channel: "system" (the device channel) or "user" (a
	// macOS user channel). Unknown: "system".
	Scope string
}

// Reason says why a declaration is withheld from a device.
type Reason string

// Reasons a declaration is withheld.
const (
	// ReasonPlatform: the type is not supported on the device's platform.
	ReasonPlatform Reason = "platform"
	// ReasonOSVersion: the type was introduced in a later OS release.
	ReasonOSVersion Reason = "os-version"
	// ReasonEnrollmentType: the type is not allowed for the enrollment
	// type (such as a User Enrollment).
	ReasonEnrollmentType Reason = "enrollment-type"
	// ReasonScope: the type is not allowed on the channel (system or
	// user scope).
	ReasonScope Reason = "scope"
	// ReasonDependency: the declaration needs one that is withheld (an
	// activation's configuration, a configuration's asset).
	ReasonDependency Reason = "dependency"
	// ReasonPayloadKey: the payload uses a key the schema does not allow
	// for the enrollment type or channel (such as a supervised-only key
	// under User Enrollment).
	ReasonPayloadKey Reason = "payload-key"
)

// Withheld is a declaration an enrollment is assigned but never sent.
type Withheld struct {
	Identifier string `json:"identifier"`
	Type       string `json:"type"`
	Reason     Reason `json:"reason"`
	// Detail says it in words, such as "allowed-enrollments on iOS:
	// supervised, device".
	Detail string `json:"detail"`
}

// uePlatforms are the platforms User Enrollment exists on.
var uePlatforms = []string{"iOS", "macOS", "visionOS"}

// withhold returns why d may not be sent to dev, or "" when it may.
func withhold(d *Declaration, dev Device) (Reason, string) {
	t, ok := schemaTypes[d.Type]
	if !ok {
		return ReasonPlatform, "not a type Apple's schema defines"
	}
	platforms := []string{dev.Platform}
	if dev.Platform == "" {
		platforms = uePlatforms
	}
	for _, p := range platforms {
		if r, detail := withholdOn(t, p, dev); r != "" {
			return r, detail
		}
	}
	if len(t.keyRules) == 0 {
		return "", ""
	}
	var payload any
	if json.Unmarshal(d.Payload, &payload) != nil {
		return "", ""
	}
	enr, scope := cmp.Or(dev.Enrollment, "user"), cmp.Or(dev.Scope, "system")
	for _, k := range t.keyRules {
		if !slices.Contains(platforms, k.platform) || !hasPath(payload, strings.Split(k.path, ".")) {
			continue
		}
		if k.enrollments != nil && !slices.Contains(k.enrollments, enr) {
			return ReasonPayloadKey, fmt.Sprintf("%s: allowed-enrollments on %s: %s; enrollment is %s", k.path, k.platform, strings.Join(k.enrollments, ", "), enr)
		}
		if k.scopes != nil && !slices.Contains(k.scopes, scope) {
			return ReasonPayloadKey, fmt.Sprintf("%s: allowed-scopes on %s: %s; channel is %s", k.path, k.platform, strings.Join(k.scopes, ", "), scope)
		}
	}
	return "", ""
}

// hasPath reports whether the payload holds a key at path: arrays are
// passed through, "ANY" matches any key.
func hasPath(v any, path []string) bool {
	if len(path) == 0 {
		return true
	}
	switch x := v.(type) {
	case map[string]any:
		if path[0] == "ANY" {
			for _, c := range x {
				if hasPath(c, path[1:]) {
					return true
				}
			}
			return false
		}
		c, ok := x[path[0]]
		return ok && hasPath(c, path[1:])
	case []any:
		for _, e := range x {
			if hasPath(e, path) {
				return true
			}
		}
	}
	return false
}

func withholdOn(t schemaType, platform string, dev Device) (Reason, string) {
	i := slices.IndexFunc(t.platforms, func(p schemaPlatform) bool { return p.platform == platform })
	if i < 0 {
		return ReasonPlatform, "not supported on " + platform
	}
	p := t.platforms[i]
	os := dev.OSVersion
	if os == "" {
		os = schemaTypes["com.apple.activation.simple"].introducedOn(platform)
	}
	if compareVersions(os, p.introduced) < 0 {
		return ReasonOSVersion, fmt.Sprintf("introduced in %s %s, device runs %s", platform, p.introduced, orUnknown(dev.OSVersion))
	}
	enr := cmp.Or(dev.Enrollment, "user")
	if p.enrollments != nil && !slices.Contains(p.enrollments, enr) {
		return ReasonEnrollmentType, fmt.Sprintf("allowed-enrollments on %s: %s; enrollment is %s", platform, strings.Join(p.enrollments, ", "), enr)
	}
	scope := cmp.Or(dev.Scope, "system")
	if p.scopes != nil && !slices.Contains(p.scopes, scope) {
		return ReasonScope, fmt.Sprintf("allowed-scopes on %s: %s; channel is %s", platform, strings.Join(p.scopes, ", "), scope)
	}
	return "", ""
}

func (t schemaType) introducedOn(platform string) string {
	for _, p := range t.platforms {
		if p.platform == platform {
			return p.introduced
		}
	}
	return "0"
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown release"
	}
	return s
}

// compareVersions compares dotted release numbers ("17.5.1" > "17.5");
// non-numeric parts count as 0.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// platformOf maps what a device reports to the schema's platform name: a
// ProductName from Authenticate ("iPhone16,2", "iPad14,1", "Mac14,2") or a
// device.operating-system.family status value ("iOS", "iPadOS", "macOS").
func platformOf(s string) string {
	switch {
	case s == "":
		return ""
	case strings.HasPrefix(s, "iPhone"), strings.HasPrefix(s, "iPad"), strings.HasPrefix(s, "iPod"), s == "iOS":
		return "iOS"
	case strings.HasPrefix(s, "Mac"), strings.HasPrefix(s, "iMac"), s == "macOS":
		return "macOS"
	case strings.HasPrefix(s, "AppleTV"), s == "tvOS":
		return "tvOS"
	case strings.HasPrefix(s, "Watch"), s == "watchOS":
		return "watchOS"
	case strings.HasPrefix(s, "RealityDevice"), s == "visionOS", s == "xrOS":
		return "visionOS"
	}
	return ""
}

// deviceOf derives the filtering facts of a channel from its mdm record
// (enrollment type and channel) and what the device reported (the platform
// and OS from Authenticate, overridden by its status reports).
func deviceOf(t mdm.EnrollmentType, productName, osVersion string, reported *Facts) Device {
	d := Device{Platform: platformOf(productName), OSVersion: osVersion, Enrollment: "user", Scope: "system"}
	switch t {
	case mdm.Device:
		d.Enrollment = "device"
	case mdm.User, mdm.SharedIPadUser:
		d.Enrollment, d.Scope = "device", "user"
	case mdm.UserEnrollmentUser:
		d.Scope = "user"
	}
	if reported != nil {
		if p := platformOf(reported.Platform); p != "" {
			d.Platform = p
		}
		if reported.OSVersion != "" {
			d.OSVersion = reported.OSVersion
		}
	}
	if !validVersion(d.OSVersion) {
		d.OSVersion = ""
	}
	return d
}

func validVersion(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, f := range strings.Split(s, ".") {
		if _, err := strconv.Atoi(f); err != nil {
			return false
		}
	}
	return true
}

// WithholdReason returns why Apple's schema does not allow d for dev —
// its type, or a key of its payload — with a description, or "" when it is
// allowed. Empty fields of dev are taken at their strictest, as for a
// served enrollment.
func WithholdReason(d *Declaration, dev Device) (Reason, string) {
	return withhold(d, dev)
}
