package mdm

import (
	"strconv"
	"strings"
)

// Platform is the OS family of an enrolled device, as recorded from its
// Authenticate message. The zero value, PlatformUnknown, is what records
// stored before platforms were recorded hold; the command policy treats it
// as strictly as it can (see CheckPolicy).
type Platform string

// Platforms. iPadOS is told apart from iOS because hosts show it apart;
// Apple's schema describes both as iOS, and so does the command policy.
const (
	PlatformUnknown  Platform = ""
	PlatformIOS      Platform = "iOS"
	PlatformIPadOS   Platform = "iPadOS"
	PlatformMacOS    Platform = "macOS"
	PlatformTVOS     Platform = "tvOS"
	PlatformVisionOS Platform = "visionOS"
	PlatformWatchOS  Platform = "watchOS"
)

// platformPrefixes map the start of a hardware model to its platform.
// ProductName and Model carry identifiers such as "iPhone15,4",
// "iPad13,4", "Mac14,2", "MacBookPro18,3", "iMac21,1", "VirtualMac2,1",
// "AppleTV11,1", "RealityDevice14,1" and "Watch6,1"; ModelName carries
// marketing names such as "iPhone", "MacBook Pro", "Apple TV" or "Apple
// Vision Pro". The account-driven enrollment's model-family values
// (iPhone, iPad, Mac, AppleTV, Watch, RealityDevice) start the same way.
var platformPrefixes = []struct {
	prefix   string
	platform Platform
}{
	{"iPhone", PlatformIOS},
	{"iPod", PlatformIOS},
	{"iPad", PlatformIPadOS},
	{"Mac", PlatformMacOS},
	{"iMac", PlatformMacOS},
	{"VirtualMac", PlatformMacOS},
	{"Xserve", PlatformMacOS},
	{"AppleTV", PlatformTVOS},
	{"Apple TV", PlatformTVOS},
	{"RealityDevice", PlatformVisionOS},
	{"Apple Vision", PlatformVisionOS},
	{"Watch", PlatformWatchOS},
	{"Apple Watch", PlatformWatchOS},
}

// platformOf derives the platform from what an Authenticate carries: the
// first of ProductName, Model and ModelName that starts with a known
// hardware model prefix decides. OSVersion and BuildVersion do not (iOS,
// iPadOS, tvOS and, since the 26 releases, macOS share version numbers).
// Without a match the platform is PlatformUnknown.
func platformOf(productName, model, modelName string) Platform {
	for _, s := range [...]string{productName, model, modelName} {
		for _, p := range platformPrefixes {
			if strings.HasPrefix(s, p.prefix) {
				return p.platform
			}
		}
	}
	return PlatformUnknown
}

// parseVersion splits a dotted release such as "17.5.1"; ok is false for
// anything else.
func parseVersion(v string) (parts []int, ok bool) {
	if v == "" {
		return nil, false
	}
	for _, s := range strings.Split(v, ".") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, false
		}
		parts = append(parts, n)
	}
	return parts, true
}

// versionAtLeast reports whether release v is min or later; missing
// components count as 0. ok is false when either is not a release.
func versionAtLeast(v, min string) (atLeast, ok bool) {
	x, ok1 := parseVersion(v)
	y, ok2 := parseVersion(min)
	if !ok1 || !ok2 {
		return false, false
	}
	for i := 0; i < max(len(x), len(y)); i++ {
		var p, q int
		if i < len(x) {
			p = x[i]
		}
		if i < len(y) {
			q = y[i]
		}
		if p != q {
			return p > q, true
		}
	}
	return true, true
}
