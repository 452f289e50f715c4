package ddm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Class is one of the four kinds of declaration, as it appears in the
// declaration/<class>/<identifier> endpoint.
type Class string

// The declaration classes.
const (
	ClassActivation    Class = "activation"
	ClassAsset         Class = "asset"
	ClassConfiguration Class = "configuration"
	ClassManagement    Class = "management"
)

// classes in the order items are listed.
var classes = []Class{ClassActivation, ClassConfiguration, ClassAsset, ClassManagement}

// ClassOf returns the class a declaration type belongs to
// (com.apple.configuration.… is a configuration), or "" when the type names
// none.
func ClassOf(declarationType string) Class {
	for _, c := range classes {
		if strings.HasPrefix(declarationType, "com.apple."+string(c)+".") {
			return c
		}
	}
	return ""
}

// Declaration is one declaration a host defines.
type Declaration struct {
	// Identifier names the declaration, unique across classes.
	Identifier string
	// Type is the declaration type, such as
	// "com.apple.configuration.passcode.settings". It must be one Apple's
	// schema defines.
	Type string
	// Payload is the declaration's payload, a JSON object.
	Payload json.RawMessage
}

// Class returns the declaration's class.
func (d *Declaration) Class() Class { return ClassOf(d.Type) }

// ServerToken is derived from the declaration's content: its type,
// identifier and payload with key order and spacing normalised. Any change
// of content changes it; nothing else does.
func (d *Declaration) ServerToken() string { return d.derived().token }

// derivedOf is what is derived from a declaration's content: its
// ServerToken and references.
type derivedOf struct {
	token string
	refs  []reference
}

// derivedCache keeps what was derived from the declarations seen last, by
// content: a catalog's few dozen declarations are derived once rather
// than at every enrollment's sync. It is emptied when its keys grow past
// derivedCacheBytes.
var derivedCache = struct {
	sync.Mutex
	m     map[string]*derivedOf
	bytes int
}{m: map[string]*derivedOf{}}

const derivedCacheBytes = 16 << 20

func (d *Declaration) derived() *derivedOf {
	key := d.Type + "\x00" + d.Identifier + "\x00" + string(d.Payload)
	derivedCache.Lock()
	v, ok := derivedCache.m[key]
	derivedCache.Unlock()
	if ok {
		return v
	}
	v = &derivedOf{token: d.serverToken(), refs: d.findReferences()}
	derivedCache.Lock()
	if derivedCache.bytes+len(key) > derivedCacheBytes {
		clear(derivedCache.m)
		derivedCache.bytes = 0
	}
	if _, ok := derivedCache.m[key]; !ok && len(key) <= derivedCacheBytes/16 {
		derivedCache.m[key] = v
		derivedCache.bytes += len(key)
	}
	derivedCache.Unlock()
	return v
}

func (d *Declaration) serverToken() string {
	p := d.Payload
	if len(bytes.TrimSpace(p)) == 0 {
		p = []byte("{}") // as stored
	}
	if c, err := canonicalJSON(p); err == nil {
		p = c
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte(d.Type), []byte(d.Identifier), p} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Clone returns a deep copy of d.
func (d *Declaration) Clone() *Declaration {
	c := *d
	c.Payload = bytes.Clone(d.Payload)
	return &c
}

// maxPayloadBytes bounds one declaration's payload.
const maxPayloadBytes = 1 << 20

// normalize checks d and returns a copy with its payload in canonical form.
func (d *Declaration) normalize() (*Declaration, error) {
	bad := func(field, problem string) error {
		return &ValidationError{What: "declaration " + fmt.Sprintf("%q", d.Identifier), Field: field, Problem: problem}
	}
	switch {
	case d == nil:
		return nil, &ValidationError{What: "declaration", Field: "", Problem: "nil"}
	case !validIdentifier(d.Identifier):
		return nil, bad("Identifier", "must be 1–256 characters without '/', spaces or control characters")
	case ClassOf(d.Type) == "":
		return nil, bad("Type", "must start with com.apple.activation., .asset., .configuration. or .management.")
	case len(d.Payload) > maxPayloadBytes:
		return nil, bad("Payload", "larger than 1 MiB")
	}
	if _, ok := schemaTypes[d.Type]; !ok {
		return nil, bad("Type", fmt.Sprintf("%q is not a declaration type Apple's schema defines", d.Type))
	}
	payload := d.Payload
	if len(bytes.TrimSpace(payload)) == 0 {
		payload = []byte("{}")
	}
	p, err := canonicalJSON(payload)
	if err != nil || p[0] != '{' {
		return nil, bad("Payload", "must be a JSON object")
	}
	n := &Declaration{Identifier: d.Identifier, Type: d.Type, Payload: p}
	if n.Class() == ClassActivation {
		if _, err := n.activates(); err != nil {
			return nil, bad("Payload.StandardConfigurations", err.Error())
		}
	}
	return n, nil
}

func validIdentifier(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == '/' || r == 0x7f {
			return false
		}
	}
	return true
}

// canonicalJSON re-encodes a JSON value with sorted keys and no spacing,
// numbers kept as written.
func canonicalJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// activates returns the configurations an activation lists.
func (d *Declaration) activates() ([]string, error) {
	var p struct {
		StandardConfigurations []string
	}
	if err := json.Unmarshal(d.Payload, &p); err != nil {
		return nil, fmt.Errorf("must be an array of identifiers")
	}
	if len(p.StandardConfigurations) == 0 {
		return nil, fmt.Errorf("required, with at least one identifier")
	}
	return p.StandardConfigurations, nil
}

// reference is one identifier a declaration refers to.
type reference struct {
	key, to string
	// class is the class referred to; types, if not nil, the types it
	// may have.
	class Class
	types []string
}

// references returns what d refers to: an activation's configurations, a
// configuration's assets (the payload keys Apple's schema marks with
// asset types, wherever they occur in the payload). The caller must not
// change the slice.
func (d *Declaration) references() []reference { return d.derived().refs }

func (d *Declaration) findReferences() []reference {
	var out []reference
	switch d.Class() {
	case ClassActivation:
		ids, _ := d.activates()
		for _, id := range ids {
			out = append(out, reference{key: "StandardConfigurations", to: id, class: ClassConfiguration})
		}
	case ClassConfiguration:
		keys := schemaTypes[d.Type].assetKeys
		if len(keys) == 0 {
			return nil
		}
		var v any
		if json.Unmarshal(d.Payload, &v) != nil {
			return nil
		}
		walkAssetKeys(v, keys, &out)
		slices.SortFunc(out, func(a, b reference) int { return strings.Compare(a.key+"\x00"+a.to, b.key+"\x00"+b.to) })
	}
	return out
}

func walkAssetKeys(v any, keys map[string][]string, out *[]reference) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if types, ok := keys[k]; ok {
				switch ref := val.(type) {
				case string:
					*out = append(*out, reference{key: k, to: ref, class: ClassAsset, types: types})
					continue
				case []any:
					for _, r := range ref {
						if s, ok := r.(string); ok {
							*out = append(*out, reference{key: k, to: s, class: ClassAsset, types: types})
						}
					}
					continue
				}
			}
			walkAssetKeys(val, keys, out)
		}
	case []any:
		for _, e := range x {
			walkAssetKeys(e, keys, out)
		}
	}
}
