package profile

import (
	"fmt"
	"maps"
	"math"
	"strconv"
	"time"
)

// dictReader reads typed values out of a decoded plist dictionary. It
// remembers which keys it consumed, so that the rest can be kept verbatim,
// and the first type error it met, naming the field.
type dictReader struct {
	d    map[string]any
	path string
	used map[string]bool
	err  error
}

func newReader(d map[string]any, path string) *dictReader {
	return &dictReader{d: d, path: path, used: make(map[string]bool, len(d))}
}

func (r *dictReader) field(key string) string {
	if r.path == "" {
		return key
	}
	return r.path + "." + key
}

func (r *dictReader) fail(key string, v any, want string) {
	if r.err == nil {
		r.err = fieldErr(r.field(key), ErrWrongType, "want %s, got %s", want, plistTypeName(v))
	}
}

func (r *dictReader) get(key string) (any, bool) {
	v, ok := r.d[key]
	if ok {
		r.used[key] = true
	}
	return v, ok
}

func (r *dictReader) str(key string) string {
	v, ok := r.get(key)
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		r.fail(key, v, "string")
	}
	return s
}

func (r *dictReader) boolean(key string) bool {
	p := r.boolPtr(key)
	return p != nil && *p
}

func (r *dictReader) boolPtr(key string) *bool {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	b, ok := v.(bool)
	if !ok {
		r.fail(key, v, "boolean")
		return nil
	}
	return &b
}

func (r *dictReader) integer(key string) int {
	p := r.intPtr(key)
	if p == nil {
		return 0
	}
	return *p
}

func (r *dictReader) intPtr(key string) *int {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	n, ok := toInt(v)
	if !ok {
		r.fail(key, v, "integer")
		return nil
	}
	return &n
}

func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		if n < math.MinInt || n > math.MaxInt {
			return 0, false
		}
		return int(n), true
	case uint64:
		if n > math.MaxInt {
			return 0, false
		}
		return int(n), true
	}
	return 0, false
}

func (r *dictReader) data(key string) []byte {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	b, ok := v.([]byte)
	if !ok {
		r.fail(key, v, "data")
	}
	return b
}

func (r *dictReader) strings(key string) []string {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	a, ok := v.([]any)
	if !ok {
		r.fail(key, v, "array")
		return nil
	}
	out := make([]string, len(a))
	for i, e := range a {
		s, ok := e.(string)
		if !ok {
			r.fail(key+"["+strconv.Itoa(i)+"]", e, "string")
			return nil
		}
		out[i] = s
	}
	return out
}

func (r *dictReader) dict(key string) map[string]any {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	d, ok := v.(map[string]any)
	if !ok {
		r.fail(key, v, "dictionary")
	}
	return d
}

// subject reads an X.500 name in Apple's array-of-arrays-of-pairs form.
func (r *dictReader) subject(key string) Subject {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	rdns, ok := v.([]any)
	if !ok {
		r.fail(key, v, "array")
		return nil
	}
	out := make(Subject, 0, len(rdns))
	for i, rdn := range rdns {
		k := fmt.Sprintf("%s[%d]", key, i)
		pairs, ok := rdn.([]any)
		if !ok {
			r.fail(k, rdn, "array")
			return nil
		}
		var set []Attribute
		for j, p := range pairs {
			kp := fmt.Sprintf("%s[%d]", k, j)
			pair, ok := p.([]any)
			if !ok || len(pair) != 2 {
				r.fail(kp, p, "array of two strings")
				return nil
			}
			typ, ok1 := pair[0].(string)
			val, ok2 := pair[1].(string)
			if !ok1 || !ok2 {
				r.fail(kp, p, "array of two strings")
				return nil
			}
			set = append(set, Attribute{Type: typ, Value: val})
		}
		out = append(out, set)
	}
	return out
}

// subjectAltName reads the SubjectAltName dictionary, whose values are a
// string or an array of strings.
func (r *dictReader) subjectAltName(key string) *SubjectAltName {
	d := r.dict(key)
	if d == nil {
		return nil
	}
	sr := newReader(d, r.field(key))
	san := &SubjectAltName{
		RFC822Name:      sr.stringOrStrings("rfc822Name"),
		DNSName:         sr.stringOrStrings("dNSName"),
		URI:             sr.stringOrStrings("uniformResourceIdentifier"),
		NTPrincipalName: sr.stringOrStrings("ntPrincipalName"),
		Extra:           sr.extra(),
	}
	if sr.err != nil && r.err == nil {
		r.err = sr.err
	}
	return san
}

func (r *dictReader) stringOrStrings(key string) []string {
	v, ok := r.d[key]
	if !ok {
		return nil
	}
	if s, ok := v.(string); ok {
		r.used[key] = true
		return []string{s}
	}
	return r.strings(key)
}

// extra returns the keys that were not consumed, or nil when there are none.
func (r *dictReader) extra() map[string]any {
	var out map[string]any
	for k, v := range r.d {
		if r.used[k] {
			continue
		}
		if out == nil {
			out = make(map[string]any)
		}
		out[k] = v
	}
	return out
}

func plistTypeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case int, int64, uint64:
		return "integer"
	case float32, float64:
		return "real"
	case []byte:
		return "data"
	case time.Time:
		return "date"
	case []any:
		return "array"
	case map[string]any:
		return "dictionary"
	}
	return fmt.Sprintf("%T", v)
}

// dict is a plist dictionary being written. The setters leave out zero
// values; the plist library sorts the keys when it encodes, so the same
// profile always gives the same bytes.
type dict map[string]any

// newDict returns a dictionary holding a copy of extra, the keys a type
// does not model; modelled keys set afterwards replace equal ones.
func newDict(extra map[string]any) dict {
	w := make(dict, len(extra)+8)
	maps.Copy(w, extra)
	return w
}

func (w dict) set(key string, v any) { w[key] = v }

func (w dict) str(key, v string) {
	if v != "" {
		w[key] = v
	}
}

// strAlways writes v even when empty.
func (w dict) strAlways(key, v string) { w[key] = v }

func (w dict) boolean(key string, v bool) {
	if v {
		w[key] = true
	}
}

func (w dict) boolPtr(key string, v *bool) {
	if v != nil {
		w[key] = *v
	}
}

func (w dict) integer(key string, v int) {
	if v != 0 {
		w[key] = v
	}
}

func (w dict) intPtr(key string, v *int) {
	if v != nil {
		w[key] = *v
	}
}

func (w dict) data(key string, v []byte) {
	if v != nil {
		w[key] = v
	}
}

func (w dict) strings(key string, v []string) {
	if v != nil {
		w[key] = v
	}
}

func (w dict) subject(key string, s Subject) {
	if s == nil {
		return
	}
	rdns := make([][][]string, len(s))
	for i, set := range s {
		pairs := make([][]string, len(set))
		for j, a := range set {
			pairs[j] = []string{a.Type, a.Value}
		}
		rdns[i] = pairs
	}
	w[key] = rdns
}

func (w dict) subjectAltName(key string, san *SubjectAltName) {
	if san == nil {
		return
	}
	d := newDict(san.Extra)
	d.stringOrStrings("rfc822Name", san.RFC822Name)
	d.stringOrStrings("dNSName", san.DNSName)
	d.stringOrStrings("uniformResourceIdentifier", san.URI)
	d.stringOrStrings("ntPrincipalName", san.NTPrincipalName)
	w[key] = d
}

func (w dict) stringOrStrings(key string, v []string) {
	if len(v) == 1 {
		w[key] = v[0]
		return
	}
	w.strings(key, v)
}
