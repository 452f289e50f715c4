package ddm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// checkReferences checks that every reference of d resolves in decls.
func checkReferences(d *Declaration, decls map[string]*Declaration) error {
	for _, r := range d.references() {
		to, ok := decls[r.to]
		switch {
		case !ok:
			return &ReferenceError{From: d.Identifier, Key: r.key, To: r.to, Problem: "no such declaration"}
		case to.Class() != r.class:
			return &ReferenceError{From: d.Identifier, Key: r.key, To: r.to, Problem: fmt.Sprintf("is a%s %s, not a%s %s", article(to.Class()), to.Class(), article(r.class), r.class)}
		case r.types != nil && !slices.Contains(r.types, to.Type):
			return &ReferenceError{From: d.Identifier, Key: r.key, To: r.to, Problem: fmt.Sprintf("is %s; the key takes %s", to.Type, strings.Join(r.types, ", "))}
		}
	}
	return nil
}

func article(c Class) string {
	if c == ClassActivation || c == ClassAsset {
		return "n"
	}
	return ""
}

// checkSet checks that every member of set name exists.
func checkSet(name string, members []string, decls map[string]*Declaration) error {
	if name == "" || len(name) > 256 {
		return &ValidationError{What: "set", Field: "name", Problem: "must be 1–256 characters"}
	}
	for _, m := range members {
		if _, ok := decls[m]; !ok {
			return &ReferenceError{From: "set " + name, Key: "members", To: m, Problem: "no such declaration"}
		}
	}
	return nil
}

// checkAssignment checks that every set and declaration a names exists.
func checkAssignment(a *Assignment, cat *Catalog) error {
	if a.Enrollment == "" {
		return &ValidationError{What: "assignment", Field: "enrollment", Problem: "required"}
	}
	for _, s := range a.Sets {
		if _, ok := cat.Sets[s]; !ok {
			return &ReferenceError{From: "enrollment " + string(a.Enrollment), Key: "sets", To: s, Problem: "no such set"}
		}
	}
	for _, d := range a.Declarations {
		if _, ok := cat.Declarations[d]; !ok {
			return &ReferenceError{From: "enrollment " + string(a.Enrollment), Key: "declarations", To: d, Problem: "no such declaration"}
		}
	}
	return nil
}

// key names what a is assigned (nil: nothing), for telling assignments
// apart.
func (a *Assignment) key() string {
	if a == nil {
		return ""
	}
	return strings.Join(a.Sets, "\x00") + "\x01" + strings.Join(a.Declarations, "\x00")
}

// clone returns a copy of cat whose maps may be changed.
func (cat *Catalog) clone() *Catalog {
	return &Catalog{Revision: cat.Revision, Declarations: maps.Clone(cat.Declarations), Sets: maps.Clone(cat.Sets)}
}

// with returns a copy of cat with ch's declarations and sets applied.
func (cat *Catalog) with(ch *Change) *Catalog {
	next := cat.clone()
	for _, id := range ch.DeleteDeclarations {
		delete(next.Declarations, id)
	}
	for _, name := range ch.DeleteSets {
		delete(next.Sets, name)
	}
	for _, d := range ch.PutDeclarations {
		next.Declarations[d.Identifier] = d
	}
	maps.Copy(next.Sets, ch.PutSets)
	return next
}

// reach describes what a reaches in cat: each declaration it is assigned,
// directly or through a set, and each one those refer to, by identifier
// and server token.
func reach(cat *Catalog, a *Assignment) string {
	seen := map[string]bool{}
	var visit func(id string)
	visit = func(id string) {
		if seen[id] {
			return
		}
		seen[id] = true
		if d, ok := cat.Declarations[id]; ok {
			for _, r := range d.references() {
				visit(r.to)
			}
		}
	}
	if a != nil {
		for _, id := range a.Declarations {
			visit(id)
		}
		for _, set := range a.Sets {
			for _, id := range cat.Sets[set] {
				visit(id)
			}
		}
	}
	var b strings.Builder
	for _, id := range slices.Sorted(maps.Keys(seen)) {
		token := "-" // missing
		if d, ok := cat.Declarations[id]; ok {
			token = d.ServerToken()
		}
		fmt.Fprintf(&b, "%s\x00%s\n", id, token)
	}
	return b.String()
}

// effective computes what an enrollment assigned a is served and what is
// withheld from dev. extra are declarations every enrollment gets (the
// default management declarations). References resolve, since every write
// was checked; one that does not is an error.
func effective(cat *Catalog, a *Assignment, extra []*Declaration, dev Device) ([]*Declaration, []Withheld, error) {
	decls := cat.Declarations
	if len(extra) > 0 {
		decls = make(map[string]*Declaration, len(cat.Declarations)+len(extra))
		for k, v := range cat.Declarations {
			decls[k] = v
		}
		for _, d := range extra {
			decls[d.Identifier] = d
		}
	}
	var roots []string
	for _, d := range extra {
		roots = append(roots, d.Identifier)
	}
	if a != nil {
		roots = append(roots, a.Declarations...)
		for _, s := range a.Sets {
			roots = append(roots, cat.Sets[s]...)
		}
	}
	// Everything assigned, with what it needs.
	all := map[string]*Declaration{}
	var visit func(id, from string) error
	visit = func(id, from string) error {
		if _, seen := all[id]; seen {
			return nil
		}
		d, ok := decls[id]
		if !ok {
			return &ReferenceError{From: from, Key: "assignment", To: id, Problem: "no such declaration"}
		}
		all[id] = d
		for _, r := range d.references() {
			if err := visit(r.to, id); err != nil {
				return err
			}
		}
		return nil
	}
	for _, id := range roots {
		if err := visit(id, "assignment"); err != nil {
			return nil, nil, err
		}
	}
	// What the schema does not allow, then what needs it, until nothing
	// more is withheld.
	withheld := map[string]Withheld{}
	for id, d := range all {
		if r, detail := withhold(d, dev); r != "" {
			withheld[id] = Withheld{Identifier: id, Type: d.Type, Reason: r, Detail: detail}
		}
	}
	for changed := true; changed; {
		changed = false
		for id, d := range all {
			if _, ok := withheld[id]; ok {
				continue
			}
			for _, r := range d.references() {
				if _, ok := withheld[r.to]; ok {
					withheld[id] = Withheld{Identifier: id, Type: d.Type, Reason: ReasonDependency, Detail: fmt.Sprintf("%s %q is withheld", r.class, r.to)}
					changed = true
					break
				}
			}
		}
	}
	var served []*Declaration
	for id, d := range all {
		if _, ok := withheld[id]; !ok {
			served = append(served, d)
		}
	}
	slices.SortFunc(served, func(a, b *Declaration) int { return strings.Compare(a.Identifier, b.Identifier) })
	out := make([]Withheld, 0, len(withheld))
	for _, w := range withheld {
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b Withheld) int { return strings.Compare(a.Identifier, b.Identifier) })
	return served, out, nil
}

// itemsOf lists served declarations as items, sorted by class and
// identifier, and derives their DeclarationsToken.
func itemsOf(served []*Declaration) ([]Item, string) {
	items := make([]Item, 0, len(served))
	for _, d := range served {
		items = append(items, Item{Class: d.Class(), Identifier: d.Identifier, ServerToken: d.ServerToken()})
	}
	return tokenOf(items)
}

// tokenOf sorts items and derives their DeclarationsToken.
func tokenOf(items []Item) ([]Item, string) {
	slices.SortFunc(items, func(a, b Item) int {
		if c := strings.Compare(string(a.Class), string(b.Class)); c != 0 {
			return c
		}
		return strings.Compare(a.Identifier, b.Identifier)
	})
	h := sha256.New()
	for _, it := range items {
		fmt.Fprintf(h, "%s\x00%s\x00%s\n", it.Class, it.Identifier, it.ServerToken)
	}
	return items, hex.EncodeToString(h.Sum(nil)[:16])
}

// Check reports whether st's DeclarationsToken is the one its items
// derive, as every state a Store returns must be.
func (st *SyncState) Check() error {
	_, token := tokenOf(slices.Clone(st.Items))
	if token != st.DeclarationsToken {
		return fmt.Errorf("ddm: state of %s at revision %d: DeclarationsToken %q does not match its %d items (%q)", st.Enrollment, st.Revision, st.DeclarationsToken, len(st.Items), token)
	}
	return nil
}
