package enroll

import "strings"

// The portal reads the browser's User-Agent to lead each device to the way
// of enrolling its release can take (see [route]):
//
//   - iPhone and iPad asking for mobile sites: "(iPhone; CPU iPhone OS 17_5
//     like Mac OS X)" or "(iPad; CPU OS 17_5 like Mac OS X)". From iOS 26 the
//     OS token is frozen (it reads 18_6, later 18_7) and Safari's
//     "Version/26.x" carries the release, so an OS token of 18 or more means
//     "18 or later" unless Safari's Version says which. Chrome (CriOS),
//     Firefox (FxiOS) and in-app web views use the same OS token but no
//     Version.
//   - "Macintosh; Intel Mac OS X 10_15_7": a Mac, or an iPad asking for
//     desktop sites, which iPadOS Safari does by default. The token is
//     frozen on every Mac; only Safari's Version hints at the release, and
//     only as a range (Safari 18 runs on macOS 13 to 15, Safari 26 on macOS
//     14 and later; on an iPad it is the iPadOS release).
//
// Nothing here is trusted for security: a User-Agent is whatever the client
// says. It only chooses which instructions a page shows first, and every
// page that leads away from a flow offers a way to continue in it anyway.

// maxUserAgentLen bounds how much of a User-Agent is read.
const maxUserAgentLen = 512

// uaPlatform is the kind of device a User-Agent names.
type uaPlatform uint8

// Platforms a User-Agent can name.
const (
	uaUnknown uaPlatform = iota // nothing recognised
	uaIPhone                    // iPhone or iPod touch
	uaIPad                      // iPad asking for mobile sites
	uaDesktop                   // "Macintosh": a Mac, or an iPad asking for desktop sites
	uaAndroid                   // Android
	uaOther                     // Windows, Linux, ChromeOS and other computers
)

// uaVersion is a release number, major.minor; the zero value is unknown.
type uaVersion struct{ major, minor int }

// known reports whether v was read.
func (v uaVersion) known() bool { return v.major > 0 }

// atLeast reports whether v is major.minor or later.
func (v uaVersion) atLeast(major, minor int) bool {
	return v.major > major || v.major == major && v.minor >= minor
}

// userAgent is what the portal reads from a User-Agent.
type userAgent struct {
	platform uaPlatform
	// safari is set for Safari itself: a Version token, and none of
	// another browser (CriOS, FxiOS, EdgiOS, Chrome, Firefox, …).
	safari bool
	// os is the iOS or iPadOS release (iPhone and iPad only).
	os uaVersion
	// osLowerBound is set when os is only a lower bound: a frozen OS token
	// (18 or more) without Safari's Version to say which release it is.
	osLowerBound bool
	// safariVersion is Safari's Version token.
	safariVersion uaVersion
}

// otherBrowsers are product tokens of browsers that are not Safari, though
// their User-Agents may mention Safari.
var otherBrowsers = []string{"CriOS/", "FxiOS/", "EdgiOS/", "OPiOS/", "OPT/", "GSA/", "YaBrowser/",
	"Chrome/", "Chromium/", "Firefox/", "Edg/", "OPR/", "SamsungBrowser/"}

// parseUserAgent reads a User-Agent header. Whatever the input, it returns
// a value (uaUnknown when nothing is recognised); it reads at most
// maxUserAgentLen bytes.
func parseUserAgent(s string) userAgent {
	if len(s) > maxUserAgentLen {
		s = s[:maxUserAgentLen]
	}
	var ua userAgent
	switch {
	case strings.Contains(s, "iPhone") || strings.Contains(s, "iPod"):
		ua.platform = uaIPhone
	case strings.Contains(s, "iPad"):
		ua.platform = uaIPad
	case strings.Contains(s, "Android"):
		ua.platform = uaAndroid
	case strings.Contains(s, "Macintosh"):
		ua.platform = uaDesktop
	case strings.Contains(s, "Windows") || strings.Contains(s, "Linux") || strings.Contains(s, "X11") ||
		strings.Contains(s, "CrOS"):
		ua.platform = uaOther
	}
	if v, ok := versionAfter(s, "Version/", '.'); ok {
		ua.safari = strings.Contains(s, "Safari/")
		for _, b := range otherBrowsers {
			if strings.Contains(s, b) {
				ua.safari = false
				break
			}
		}
		if ua.safari {
			ua.safariVersion = v
		}
	}
	if ua.platform == uaIPhone || ua.platform == uaIPad {
		// "CPU iPhone OS 17_5 like", "CPU OS 17_5 like" (iPad).
		if v, ok := versionAfter(s, " OS ", '_'); ok {
			ua.os = v
		}
		switch {
		case ua.safari && ua.safariVersion.major >= 26:
			// From iOS 26 Safari's Version is the release; the OS
			// token stays at 18.
			ua.os = ua.safariVersion
		case ua.os.major >= 18 && !ua.safari:
			// A frozen token: iOS 18 or any later release.
			ua.osLowerBound = true
		}
	}
	return ua
}

// versionAfter reads the release number that follows the first occurrence
// of token in s: digits, optionally sep and more digits. It reports false
// when token is absent or not followed by a digit.
func versionAfter(s, token string, sep byte) (uaVersion, bool) {
	i := strings.Index(s, token)
	if i < 0 {
		return uaVersion{}, false
	}
	s = s[i+len(token):]
	major, n := leadingInt(s)
	if n == 0 || major == 0 {
		return uaVersion{}, false
	}
	v := uaVersion{major: major}
	if n < len(s) && s[n] == sep {
		v.minor, _ = leadingInt(s[n+1:])
	}
	return v, true
}

// leadingInt parses the decimal digits at the start of s, at most four of
// them, and returns the value and how many bytes it read.
func leadingInt(s string) (int, int) {
	v, n := 0, 0
	for n < len(s) && n < 4 && s[n] >= '0' && s[n] <= '9' {
		v = v*10 + int(s[n]-'0')
		n++
	}
	return v, n
}

// route is the way of enrolling the portal leads a browser to first.
type route uint8

// Routes.
const (
	// routeUnknown: the User-Agent does not say whether the device can
	// install a profile-based User Enrollment. The portal runs the
	// profile flow and mentions the account-driven path.
	routeUnknown route = iota
	// routeProfile: iOS or iPadOS 13.1 to 17, or Safari before 18 on a
	// Mac or an iPad asking for desktop sites (macOS 10.15 to 14, iPadOS
	// 13 to 17): the profile flow works.
	routeProfile
	// routeAccount: iOS or iPadOS 18 or later, which cannot install a
	// profile-based User Enrollment: the device enrolls from Settings.
	routeAccount
	// routeDesktop: Safari 18 or later on a Mac or on an iPad asking for
	// desktop sites. An iPad there runs iPadOS 18 or later (account-driven
	// only); a Mac runs macOS 13 or later, and from macOS 14 it can enroll
	// from System Settings, from macOS 15 only there. Most such devices
	// therefore enroll from Settings: the portal shows both Settings paths
	// and lets an older device continue in the browser.
	routeDesktop
	// routeTooOld: iOS or iPadOS before 13.1, which has no User Enrollment.
	routeTooOld
)

// String names r for templates (pageData.Route).
func (r route) String() string {
	switch r {
	case routeProfile:
		return "profile"
	case routeAccount:
		return "account"
	case routeDesktop:
		return "desktop"
	case routeTooOld:
		return "too-old"
	}
	return "unknown"
}

// Where account-driven User Enrollment starts on the device (Apple Platform
// Deployment, "Account-driven enrollment methods"); shown on portal pages
// and in Invitation.Text.
const (
	settingsPathIOS = "Settings → General → VPN & Device Management"
	settingsPathMac = "System Settings → General → Device Management"
	settingsButton  = "Sign In to Work or School Account"
)

// route returns the way of enrolling for the device ua describes.
func (ua userAgent) route() route {
	switch ua.platform {
	case uaIPhone, uaIPad:
		switch {
		case !ua.os.known():
			return routeUnknown
		case ua.os.major >= 18:
			return routeAccount
		case ua.os.atLeast(13, 1):
			return routeProfile
		}
		return routeTooOld
	case uaDesktop:
		switch {
		case !ua.safari || !ua.safariVersion.known():
			return routeUnknown
		case ua.safariVersion.major >= 18:
			return routeDesktop
		case ua.safariVersion.major >= 13:
			return routeProfile
		}
	}
	return routeUnknown
}

// cannotInstallProfileUE reports whether the device surely cannot install a
// profile-based User Enrollment profile: an iPhone or iPad on iOS/iPadOS 18
// or later. A Mac-like User-Agent may be a Mac that can, so it is not
// refused.
func (ua userAgent) cannotInstallProfileUE() bool { return ua.route() == routeAccount }

// deviceWord names the device in page text: "iPhone", "iPad", or "device".
func (ua userAgent) deviceWord() string {
	switch ua.platform {
	case uaIPhone:
		return "iPhone"
	case uaIPad:
		return "iPad"
	}
	return "device"
}
