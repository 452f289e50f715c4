package testenv

// Real User-Agent headers of the browsers the portal tells apart, as those
// browsers send them, for tests of the portal's routing (package enroll and
// the example server's browser test).
const (
	// UserAgentIOS12 is Safari on iOS 12.5.7, which has no User Enrollment.
	UserAgentIOS12 = "Mozilla/5.0 (iPhone; CPU iPhone OS 12_5_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1.2 Mobile/15E148 Safari/604.1"
	// UserAgentIOS15 is Safari on iOS 15.8, whose Version (15.6.6) lags the OS.
	UserAgentIOS15 = "Mozilla/5.0 (iPhone; CPU iPhone OS 15_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6.6 Mobile/15E148 Safari/604.1"
	// UserAgentIOS16 is Safari on iOS 16.7.10.
	UserAgentIOS16 = "Mozilla/5.0 (iPhone; CPU iPhone OS 16_7_10 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6.1 Mobile/15E148 Safari/604.1"
	// UserAgentIOS17 is Safari on iOS 17.5.
	UserAgentIOS17 = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	// UserAgentIOS18 is Safari on iOS 18.5.
	UserAgentIOS18 = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1"
	// UserAgentIOS26 is Safari on iOS 26.0: the OS token is frozen at 18_6,
	// Version carries the release.
	UserAgentIOS26 = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.0 Mobile/15E148 Safari/604.1"
	// UserAgentIOS263 is Safari on iOS 26.3, whose frozen token reads 18_7.
	UserAgentIOS263 = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.3 Mobile/15E148 Safari/604.1"
	// UserAgentIPadOS17 is Safari on iPadOS 17.5 asking for mobile sites.
	UserAgentIPadOS17 = "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	// UserAgentIPadOS18 is Safari on iPadOS 18.5 asking for mobile sites.
	UserAgentIPadOS18 = "Mozilla/5.0 (iPad; CPU OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1"
	// UserAgentIPadDesktop is Safari on iPadOS 18.5 asking for desktop
	// sites, its default: byte for byte what macOS Safari 18.5 sends.
	UserAgentIPadDesktop = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15"
	// UserAgentMacSafari17 is Safari 17.4.1 on macOS (12 to 14).
	UserAgentMacSafari17 = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15"
	// UserAgentMacSafari26 is Safari 26.0 on macOS (14 and later).
	UserAgentMacSafari26 = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.0 Safari/605.1.15"
	// UserAgentCriOS17 is Chrome on iOS 17.5.
	UserAgentCriOS17 = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1"
	// UserAgentCriOS26 is Chrome on iOS 26: the frozen token and no Version.
	UserAgentCriOS26 = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/140.0.7339.101 Mobile/15E148 Safari/604.1"
	// UserAgentFxiOS18 is Firefox on iOS 18.5.
	UserAgentFxiOS18 = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/139.0 Mobile/15E148 Safari/605.1.15"
	// UserAgentWebViewIOS17 is an app's web view on iOS 17.5.
	UserAgentWebViewIOS17 = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
	// UserAgentAndroid is Chrome on Android (the reduced User-Agent).
	UserAgentAndroid = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 Mobile Safari/537.36"
	// UserAgentChromeWindows is desktop Chrome on Windows.
	UserAgentChromeWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 Safari/537.36"
	// UserAgentChromeMac is desktop Chrome on a Mac.
	UserAgentChromeMac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 Safari/537.36"
	// UserAgentFirefoxMac is desktop Firefox on a Mac.
	UserAgentFirefoxMac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:139.0) Gecko/20100101 Firefox/139.0"
)
