package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

func main() {
	out := flag.String("o", "zz_schema.go", "output file")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("genschema: usage: genschema -o file <declarative/declarations directory>")
	}
	types, err := scanDir(flag.Arg(0))
	if err != nil {
		log.Fatal(err)
	}
	src, err := render(types)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

// declType is what the table records about one declaration type.
type declType struct {
	name      string
	platforms []platform
	// assetKeys maps a payload key that names an asset to the asset
	// types it may name (the union over the places the key occurs).
	assetKeys map[string][]string
	// keyRules are the payload keys whose own supportedOS restricts the
	// enrollment types or scopes they may be sent to.
	keyRules []keyRule
}

// keyRule is one payload key's restriction on one platform. path is the
// dotted path of dictionary keys to it (array items are passed through,
// "ANY" stands for any key).
type keyRule struct {
	path, platform      string
	enrollments, scopes []string
}

// platform is one supportedOS entry.
type platform struct {
	name, introduced string
	// enrollments and scopes are nil when the schema does not restrict
	// them, and empty when it allows none.
	enrollments, scopes []string
}

// scanDir reads every declaration schema below dir.
func scanDir(dir string) ([]declType, error) {
	var out []declType
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		fh, err := os.Open(path)
		if err != nil {
			return err
		}
		defer fh.Close()
		doc, err := parseYAML(fh)
		if err != nil {
			return fmt.Errorf("genschema: %s: %w", path, err)
		}
		t, ok := declaration(doc)
		if ok {
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("genschema: no declaration schemas in %s", dir)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// declaration reads one schema document; ok is false for documents that
// are not a declaration type (shared sub-schemas, the declaration base).
func declaration(doc map[string]any) (declType, bool) {
	payload, _ := doc["payload"].(map[string]any)
	name, _ := payload["declarationtype"].(string)
	if !strings.HasPrefix(name, "com.apple.") {
		return declType{}, false
	}
	t := declType{name: name, assetKeys: map[string][]string{}}
	sos, _ := payload["supportedOS"].(map[string]any)
	for _, pname := range sortedKeys(sos) {
		p, _ := sos[pname].(map[string]any)
		intro, _ := p["introduced"].(string)
		if intro == "" || intro == "n/a" {
			continue
		}
		t.platforms = append(t.platforms, platform{name: pname, introduced: intro,
			enrollments: stringList(p, "allowed-enrollments"), scopes: stringList(p, "allowed-scopes")})
	}
	collectAssetKeys(doc["payloadkeys"], t.assetKeys)
	collectKeyRules(doc["payloadkeys"], "", false, &t.keyRules)
	return t, true
}

// collectKeyRules records the keys below keys (at path prefix) whose
// supportedOS carries allowed-enrollments or allowed-scopes. The subkey of
// an array describes its items and is not part of the path.
func collectKeyRules(keys any, prefix string, items bool, into *[]keyRule) {
	list, _ := keys.([]any)
	for _, k := range list {
		m, _ := k.(map[string]any)
		name, _ := m["key"].(string)
		if name == "" {
			continue
		}
		path := prefix
		if !items {
			path = strings.TrimPrefix(prefix+"."+name, ".")
		}
		sos, _ := m["supportedOS"].(map[string]any)
		for _, pname := range sortedKeys(sos) {
			p, _ := sos[pname].(map[string]any)
			e, sc := stringList(p, "allowed-enrollments"), stringList(p, "allowed-scopes")
			if e != nil || sc != nil {
				*into = append(*into, keyRule{path: path, platform: pname, enrollments: e, scopes: sc})
			}
		}
		collectKeyRules(m["subkeys"], path, m["type"] == "<array>", into)
	}
}

// collectAssetKeys records every key with assettypes below keys.
func collectAssetKeys(keys any, into map[string][]string) {
	list, _ := keys.([]any)
	for _, k := range list {
		m, _ := k.(map[string]any)
		if m == nil {
			continue
		}
		name, _ := m["key"].(string)
		if types := stringList(m, "assettypes"); len(types) > 0 && name != "" {
			into[name] = append(into[name], types...)
			slices.Sort(into[name])
			into[name] = slices.Compact(into[name])
		}
		collectAssetKeys(m["subkeys"], into)
	}
}

// stringList returns m[key] as strings: nil when absent, empty when the
// list is empty.
func stringList(m map[string]any, key string) []string {
	v, ok := m[key]
	if !ok {
		return nil
	}
	out := []string{}
	l, _ := v.([]any)
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// render writes the table as Go source.
func render(types []declType) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by genschema from Apple's device-management schema; DO NOT EDIT.\n\npackage ddm\n\n")
	b.WriteString("// schemaTypes are the declaration types Apple's schema defines, with where each may be sent.\n")
	b.WriteString("var schemaTypes = map[string]schemaType{\n")
	for _, t := range types {
		fmt.Fprintf(&b, "\t%q: {\n\t\tplatforms: []schemaPlatform{\n", t.name)
		for _, p := range t.platforms {
			fmt.Fprintf(&b, "\t\t\t{platform: %q, introduced: %q, enrollments: %s, scopes: %s},\n", p.name, p.introduced, goList(p.enrollments), goList(p.scopes))
		}
		b.WriteString("\t\t},\n")
		if len(t.keyRules) > 0 {
			b.WriteString("\t\tkeyRules: []schemaKeyRule{\n")
			for _, k := range t.keyRules {
				fmt.Fprintf(&b, "\t\t\t{path: %q, platform: %q, enrollments: %s, scopes: %s},\n", k.path, k.platform, goList(k.enrollments), goList(k.scopes))
			}
			b.WriteString("\t\t},\n")
		}
		if len(t.assetKeys) > 0 {
			b.WriteString("\t\tassetKeys: map[string][]string{\n")
			for _, k := range sortedKeys(t.assetKeys) {
				fmt.Fprintf(&b, "\t\t\t%q: %s,\n", k, goList(t.assetKeys[k]))
			}
			b.WriteString("\t\t},\n")
		}
		b.WriteString("\t},\n")
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}

func goList(l []string) string {
	if l == nil {
		return "nil"
	}
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[]string{" + strings.Join(q, ", ") + "}"
}
