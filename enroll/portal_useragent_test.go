package enroll

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/enrollkit/enrollkit/internal/testenv"
)

func TestParseUserAgent(t *testing.T) {
	v := func(major, minor int) uaVersion { return uaVersion{major, minor} }
	tests := []struct {
		name   string
		ua     string
		want   userAgent
		route  route
		device string
	}{
		{"iOS 12 Safari", testenv.UserAgentIOS12, userAgent{platform: uaIPhone, safari: true, os: v(12, 5), safariVersion: v(12, 1)}, routeTooOld, "iPhone"},
		{"iOS 15 Safari (Version lags the OS)", testenv.UserAgentIOS15, userAgent{platform: uaIPhone, safari: true, os: v(15, 8), safariVersion: v(15, 6)}, routeProfile, "iPhone"},
		{"iOS 16 Safari", testenv.UserAgentIOS16, userAgent{platform: uaIPhone, safari: true, os: v(16, 7), safariVersion: v(16, 6)}, routeProfile, "iPhone"},
		{"iOS 17 Safari", testenv.UserAgentIOS17, userAgent{platform: uaIPhone, safari: true, os: v(17, 5), safariVersion: v(17, 5)}, routeProfile, "iPhone"},
		{"iOS 18 Safari", testenv.UserAgentIOS18, userAgent{platform: uaIPhone, safari: true, os: v(18, 5), safariVersion: v(18, 5)}, routeAccount, "iPhone"},
		{"iOS 26 Safari (frozen OS token)", testenv.UserAgentIOS26, userAgent{platform: uaIPhone, safari: true, os: v(26, 0), safariVersion: v(26, 0)}, routeAccount, "iPhone"},
		{"iOS 26.3 Safari", testenv.UserAgentIOS263, userAgent{platform: uaIPhone, safari: true, os: v(26, 3), safariVersion: v(26, 3)}, routeAccount, "iPhone"},
		{"iPadOS 17 mobile site", testenv.UserAgentIPadOS17, userAgent{platform: uaIPad, safari: true, os: v(17, 5), safariVersion: v(17, 5)}, routeProfile, "iPad"},
		{"iPadOS 18 mobile site", testenv.UserAgentIPadOS18, userAgent{platform: uaIPad, safari: true, os: v(18, 5), safariVersion: v(18, 5)}, routeAccount, "iPad"},
		{"iPadOS desktop-class Safari", testenv.UserAgentIPadDesktop, userAgent{platform: uaDesktop, safari: true, safariVersion: v(18, 5)}, routeDesktop, "device"},
		{"macOS Safari 17", testenv.UserAgentMacSafari17, userAgent{platform: uaDesktop, safari: true, safariVersion: v(17, 4)}, routeProfile, "device"},
		{"macOS Safari 26", testenv.UserAgentMacSafari26, userAgent{platform: uaDesktop, safari: true, safariVersion: v(26, 0)}, routeDesktop, "device"},
		{"Chrome on iOS 17", testenv.UserAgentCriOS17, userAgent{platform: uaIPhone, os: v(17, 5)}, routeProfile, "iPhone"},
		{"Chrome on iOS 26 (frozen token, no Version)", testenv.UserAgentCriOS26, userAgent{platform: uaIPhone, os: v(18, 6), osLowerBound: true}, routeAccount, "iPhone"},
		{"Firefox on iOS 18", testenv.UserAgentFxiOS18, userAgent{platform: uaIPhone, os: v(18, 5), osLowerBound: true}, routeAccount, "iPhone"},
		{"in-app web view on iOS 17", testenv.UserAgentWebViewIOS17, userAgent{platform: uaIPhone, os: v(17, 5)}, routeProfile, "iPhone"},
		{"Android Chrome", testenv.UserAgentAndroid, userAgent{platform: uaAndroid}, routeUnknown, "device"},
		{"desktop Chrome on Windows", testenv.UserAgentChromeWindows, userAgent{platform: uaOther}, routeUnknown, "device"},
		{"desktop Chrome on a Mac", testenv.UserAgentChromeMac, userAgent{platform: uaDesktop}, routeUnknown, "device"},
		{"Firefox on a Mac", testenv.UserAgentFirefoxMac, userAgent{platform: uaDesktop}, routeUnknown, "device"},
		{"empty", "", userAgent{}, routeUnknown, "device"},
		{"scripted client", "Go-http-client/1.1", userAgent{}, routeUnknown, "device"},
		{"iPhone without a release", "Mozilla/5.0 (iPhone; CPU iPhone OS like Mac OS X)", userAgent{platform: uaIPhone}, routeUnknown, "iPhone"},
		{"absurd release", "Mozilla/5.0 (iPhone; CPU iPhone OS 99999999_1 like Mac OS X)", userAgent{platform: uaIPhone, os: v(9999, 0), osLowerBound: true}, routeAccount, "iPhone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseUserAgent(tt.ua)
			if got != tt.want {
				t.Errorf("parseUserAgent = %+v, want %+v", got, tt.want)
			}
			if r := got.route(); r != tt.route {
				t.Errorf("route = %d, want %d", r, tt.route)
			}
			if d := got.deviceWord(); d != tt.device {
				t.Errorf("deviceWord = %q, want %q", d, tt.device)
			}
			if got.cannotInstallProfileUE() != (tt.route == routeAccount) {
				t.Errorf("cannotInstallProfileUE = %v for route %d", got.cannotInstallProfileUE(), tt.route)
			}
		})
	}
}

// TestParseUserAgentReadsOnlyItsBound: a release named after the first
// maxUserAgentLen bytes is not read.
func TestParseUserAgentReadsOnlyItsBound(t *testing.T) {
	long := "Mozilla/5.0 (iPhone; " + strings.Repeat("x", maxUserAgentLen) + " CPU iPhone OS 18_5 like Mac OS X)"
	if got := parseUserAgent(long); got.platform != uaIPhone || got.os.known() {
		t.Errorf("parseUserAgent(long) = %+v, want an iPhone of unknown release", got)
	}
}

// FuzzParseUserAgent: any header value gives a consistent answer without
// panicking, and the parsed release is within the digits it may read.
func FuzzParseUserAgent(f *testing.F) {
	for _, s := range []string{testenv.UserAgentIOS12, testenv.UserAgentIOS17, testenv.UserAgentIOS18, testenv.UserAgentIOS26, testenv.UserAgentIPadDesktop, testenv.UserAgentMacSafari26, testenv.UserAgentCriOS26,
		testenv.UserAgentFxiOS18, testenv.UserAgentAndroid, testenv.UserAgentChromeWindows, "", "iPhone OS 1", "Version/", "Version/26.", "iPad; CPU OS 0_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ua := parseUserAgent(s)
		for _, v := range []uaVersion{ua.os, ua.safariVersion} {
			if v.major < 0 || v.major > 9999 || v.minor < 0 || v.minor > 9999 {
				t.Fatalf("release %+v out of range for %q", v, s)
			}
		}
		if ua.platform > uaOther || ua.route() > routeTooOld {
			t.Fatalf("platform %d route %d for %q", ua.platform, ua.route(), s)
		}
		if ua.osLowerBound && ua.os.major < 18 {
			t.Fatalf("lower bound %+v below the frozen token for %q", ua.os, s)
		}
		if ua.os.known() && ua.platform != uaIPhone && ua.platform != uaIPad {
			t.Fatalf("an OS release %+v for platform %d from %q", ua.os, ua.platform, s)
		}
		if !utf8.ValidString(ua.deviceWord()) {
			t.Fatal("device word is not text")
		}
		if len(s) > maxUserAgentLen && parseUserAgent(s[:maxUserAgentLen]) != ua {
			t.Fatalf("the bytes after %d changed the answer for %q", maxUserAgentLen, s)
		}
	})
}
