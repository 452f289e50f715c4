package release

import "testing"

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
		ok   bool
	}{
		{"27.0", "27.0", 0, true},
		{"27", "27.0", 0, true},
		{"27.0.1", "27.0", 1, true},
		{"26.4", "27.0", -1, true},
		{"10.13.6", "10.13", 1, true},
		{"10.9", "10.13", -1, true},
		{"18.1", "9.0", 1, true},
		{"", "27.0", 0, false},
		{"27.0", "n/a", 0, false},
		{"27.x", "27.0", 0, false},
		{"-1", "0", 0, false},
		{"27..0", "27.0", 0, false},
	}
	for _, tc := range tests {
		got, ok := Compare(tc.a, tc.b)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Compare(%q, %q) = %d, %v; want %d, %v", tc.a, tc.b, got, ok, tc.want, tc.ok)
		}
	}
}
