// Package release compares OS releases as Apple writes them ("17.5.1",
// "10.13.6", "27.0"), for the command policy of package mdm and the
// generator of its tables.
package release

import (
	"strconv"
	"strings"
)

// Parse splits a dotted release into its numbers; ok is false for anything
// else, including "".
func Parse(v string) (parts []int, ok bool) {
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

// Compare returns -1, 0 or +1 as release a is before, the same as or after
// release b; missing components count as 0, so "27" equals "27.0". ok is
// false when either is not a release.
func Compare(a, b string) (cmp int, ok bool) {
	x, ok1 := Parse(a)
	y, ok2 := Parse(b)
	if !ok1 || !ok2 {
		return 0, false
	}
	for i := 0; i < max(len(x), len(y)); i++ {
		var p, q int
		if i < len(x) {
			p = x[i]
		}
		if i < len(y) {
			q = y[i]
		}
		switch {
		case p < q:
			return -1, true
		case p > q:
			return 1, true
		}
	}
	return 0, true
}
