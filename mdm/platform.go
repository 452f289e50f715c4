package mdm

import "strings"

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

// PlatformOf derives the platform from what an Authenticate carries: the
// first of ProductName, Model and ModelName that starts with a known
// hardware model prefix decides. OSVersion and BuildVersion do not (iOS,
// iPadOS, tvOS and, since the 26 releases, macOS share version numbers).
// Without a match the platform is PlatformUnknown.
func PlatformOf(productName, model, modelName string) Platform {
	for _, s := range [...]string{productName, model, modelName} {
		for _, p := range platformPrefixes {
			if strings.HasPrefix(s, p.prefix) {
				return p.platform
			}
		}
	}
	return PlatformUnknown
}
