package profile

import (
	"fmt"
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

// dictWriter builds a plist dictionary as key/value pairs, leaving out
// zero values. The XML writer sorts the pairs; the plist library gets a map
// (see plain).
type dictWriter struct {
	a  *arena
	kv []kv
	// merged is set once unmodelled keys were copied in; later keys then
	// replace equal ones instead of being appended.
	merged bool
}

// kv is one pair. Strings and integers are held unboxed (kind), which
// saves an allocation per key on the serving path.
type kv struct {
	k    string
	s    string
	v    any
	n    int
	kind kvKind
}

type kvKind uint8

const (
	kvAny kvKind = iota
	kvString
	kvInt
)

// value returns the pair's value as an interface.
func (e *kv) value() any {
	switch e.kind {
	case kvString:
		return e.s
	case kvInt:
		return e.n
	}
	return e.v
}

// arena hands out the dictionaries of one encoding from a few large
// allocations instead of two per dictionary.
type arena struct {
	dicts []dictWriter
	kvs   []kv
}

// newDict returns an empty dictionary with room for n pairs; more may be
// added (they then move to their own allocation).
func (a *arena) newDict(n int) *dictWriter {
	if len(a.dicts) == cap(a.dicts) {
		a.dicts = make([]dictWriter, 0, 8) // earlier dictionaries stay where they are
	}
	a.dicts = append(a.dicts, dictWriter{a: a})
	d := &a.dicts[len(a.dicts)-1]
	if cap(a.kvs)-len(a.kvs) < n {
		a.kvs = make([]kv, 0, max(48, n))
	}
	l := len(a.kvs)
	d.kv = a.kvs[l : l : l+n]
	a.kvs = a.kvs[:l+n]
	return d
}

func (w *dictWriter) set(key string, v any) { w.put(kv{k: key, v: v}) }

func (w *dictWriter) put(e kv) {
	if w.merged {
		for i := range w.kv {
			if w.kv[i].k == e.k {
				w.kv[i] = e
				return
			}
		}
	}
	w.kv = append(w.kv, e)
}

// merge copies extra keys in; modelled keys written afterwards win.
func (w *dictWriter) merge(extra map[string]any) {
	if len(extra) == 0 {
		return
	}
	for k, v := range extra {
		w.kv = append(w.kv, kv{k: k, v: v})
	}
	w.merged = true
}

func (w *dictWriter) str(key, v string) {
	if v != "" {
		w.put(kv{k: key, kind: kvString, s: v})
	}
}

// strAlways writes v even when empty.
func (w *dictWriter) strAlways(key, v string) { w.put(kv{k: key, kind: kvString, s: v}) }

func (w *dictWriter) boolean(key string, v bool) {
	if v {
		w.set(key, true)
	}
}

func (w *dictWriter) boolPtr(key string, v *bool) {
	if v != nil {
		w.set(key, *v)
	}
}

func (w *dictWriter) integer(key string, v int) {
	if v != 0 {
		w.put(kv{k: key, kind: kvInt, n: v})
	}
}

func (w *dictWriter) intPtr(key string, v *int) {
	if v != nil {
		w.put(kv{k: key, kind: kvInt, n: *v})
	}
}

func (w *dictWriter) data(key string, v []byte) {
	if v != nil {
		w.set(key, v)
	}
}

func (w *dictWriter) strings(key string, v []string) {
	if v != nil {
		a := make([]any, len(v))
		for i, s := range v {
			a[i] = s
		}
		w.set(key, a)
	}
}

func (w *dictWriter) subject(key string, s Subject) {
	if s == nil {
		return
	}
	rdns := make([]any, len(s))
	for i, set := range s {
		pairs := make([]any, len(set))
		for j, a := range set {
			pairs[j] = []any{a.Type, a.Value}
		}
		rdns[i] = pairs
	}
	w.set(key, rdns)
}

func (w *dictWriter) subjectAltName(key string, san *SubjectAltName) {
	if san == nil {
		return
	}
	d := w.a.newDict(4)
	d.merge(san.Extra)
	d.stringOrStrings("rfc822Name", san.RFC822Name)
	d.stringOrStrings("dNSName", san.DNSName)
	d.stringOrStrings("uniformResourceIdentifier", san.URI)
	d.stringOrStrings("ntPrincipalName", san.NTPrincipalName)
	w.set(key, d)
}

func (w *dictWriter) stringOrStrings(key string, v []string) {
	if len(v) == 1 {
		w.strAlways(key, v[0])
		return
	}
	w.strings(key, v)
}

// plain returns v with every *dictWriter turned into a map, as the plist
// library expects.
func plain(v any) any {
	switch v := v.(type) {
	case *dictWriter:
		m := make(map[string]any, len(v.kv))
		for i := range v.kv {
			m[v.kv[i].k] = plain(v.kv[i].value())
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plain(e)
		}
		return out
	}
	return v
}
