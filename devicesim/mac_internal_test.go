package devicesim

import (
	"strings"
	"testing"
)

func TestMacUserAgents(t *testing.T) {
	tests := []struct {
		product, os string
		mac         bool
		safari      string // the UA's "Version/" token
		system      string // a substring of the system UA
	}{
		{"iPhone15,4", "17.5.1", false, "Version/17.5 Mobile", "Settings/"},
		{"Mac14,2", "14.6.1", true, "Version/17.6 Safari", "System%20Settings/"},
		{"MacBookPro18,3", "15.1", true, "Version/18.1 Safari", "System%20Settings/"},
		{"iMac21,1", "15", true, "Version/18.0 Safari", "System%20Settings/"},
		{"Mac16,1", "26.1", true, "Version/26.1 Safari", "System%20Settings/"},
		{"iPad13,4", "18.1", false, "Version/18.1 Mobile", "Settings/"},
		{"iPhone18,1", "26.1", false, "iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Mobile", "Settings/"},
	}
	for _, tt := range tests {
		d, err := New(Options{ProductName: tt.product, OSVersion: tt.os})
		if err != nil {
			t.Fatal(err)
		}
		if d.IsMac() != tt.mac {
			t.Errorf("%s: IsMac = %v", tt.product, d.IsMac())
		}
		ua := d.safariUserAgent()
		if !strings.Contains(ua, tt.safari) || strings.Contains(ua, "Macintosh") != tt.mac {
			t.Errorf("%s %s: Safari UA %q, want %q", tt.product, tt.os, ua, tt.safari)
		}
		if s := d.systemUserAgent(); !strings.HasPrefix(s, tt.system) {
			t.Errorf("%s: system UA %q", tt.product, s)
		}
		if name := d.opts.DeviceName; (name == "Mac") != tt.mac {
			t.Errorf("%s: default DeviceName %q", tt.product, name)
		}
	}
}

func TestProfileBasedUEReleases(t *testing.T) {
	tests := []struct {
		product, os string
		want        bool
	}{
		{"iPhone15,4", "17.5.1", true},
		{"iPhone15,4", "13.1", true},
		{"iPhone15,4", "18.0", false},
		{"iPhone17,1", "26.1", false},
		{"iPad13,4", "17.7", true},
		{"iPad13,4", "18.2", false},
		{"Mac14,2", "14.6.1", true},
		{"Mac14,2", "10.15.7", true},
		{"Mac14,2", "15.0", false},
		{"Mac16,1", "26.1", false},
	}
	for _, tt := range tests {
		d, err := New(Options{ProductName: tt.product, OSVersion: tt.os})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.profileBasedUE(); got != tt.want {
			t.Errorf("%s %s: profileBasedUE = %v, want %v", tt.product, tt.os, got, tt.want)
		}
	}
}
