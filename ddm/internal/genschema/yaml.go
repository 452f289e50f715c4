package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// line is one meaningful line of a YAML file: its indentation and text.
type line struct {
	indent int
	text   string
}

// readLines returns the lines of r that are neither blank nor comments.
func readLines(r io.Reader) ([]line, error) {
	var out []line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		t := strings.TrimRight(sc.Text(), " \t\r")
		s := strings.TrimLeft(t, " ")
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		out = append(out, line{indent: len(t) - len(s), text: s})
	}
	return out, sc.Err()
}

// parser turns lines into a tree of map[string]any, []any and string.
// Anchors are dropped and aliases read as the alias text: the generator
// looks at each key once, where it is defined.
type parser struct {
	lines []line
	pos   int
}

// parseYAML parses the YAML subset Apple's schema uses.
func parseYAML(r io.Reader) (map[string]any, error) {
	ls, err := readLines(r)
	if err != nil {
		return nil, err
	}
	p := &parser{lines: ls}
	if len(ls) == 0 {
		return map[string]any{}, nil
	}
	v, err := p.block(ls[0].indent)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("yaml: top level is not a map")
	}
	return m, nil
}

// block parses the node whose lines start at the current position with
// exactly indent spaces.
func (p *parser) block(indent int) (any, error) {
	if p.pos < len(p.lines) && strings.HasPrefix(p.lines[p.pos].text, "- ") || p.pos < len(p.lines) && p.lines[p.pos].text == "-" {
		return p.list(indent)
	}
	return p.mapping(indent, p.lines[p.pos].text)
}

// list parses "- item" lines at indent.
func (p *parser) list(indent int) ([]any, error) {
	var out []any
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if l.indent != indent || !(strings.HasPrefix(l.text, "- ") || l.text == "-") {
			break
		}
		rest := strings.TrimSpace(strings.TrimPrefix(l.text, "-"))
		if k, _, ok := splitKey(rest); ok && k != "" {
			// A map whose first key shares the dash's line.
			m, err := p.mapping(indent+2, rest)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
			continue
		}
		p.pos++
		out = append(out, scalar(rest))
		p.skipDeeper(indent)
	}
	return out, nil
}

// mapping parses "key: value" lines at indent; first is the text of the
// first line (which may follow a list dash).
func (p *parser) mapping(indent int, first string) (map[string]any, error) {
	m := map[string]any{}
	text := first
	for {
		k, v, ok := splitKey(text)
		if !ok {
			return nil, fmt.Errorf("yaml: line %d: expected key: value, got %q", p.pos+1, text)
		}
		p.pos++
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, "&") { // anchor: keep the node
			v = strings.TrimSpace(strings.TrimPrefix(v, strings.Fields(v)[0]))
		}
		switch {
		case v == "" || v == "|" || v == "|-" || v == ">" || v == ">-":
			if v == "" && p.pos < len(p.lines) && (p.lines[p.pos].indent > indent ||
				p.lines[p.pos].indent == indent && strings.HasPrefix(p.lines[p.pos].text, "- ")) {
				child, err := p.block(p.lines[p.pos].indent)
				if err != nil {
					return nil, err
				}
				m[k] = child
			} else {
				m[k] = ""
				p.skipDeeper(indent)
			}
		default:
			m[k] = scalar(v)
			p.skipDeeper(indent)
		}
		if p.pos >= len(p.lines) || p.lines[p.pos].indent != indent || strings.HasPrefix(p.lines[p.pos].text, "- ") {
			return m, nil
		}
		text = p.lines[p.pos].text
	}
}

// skipDeeper skips the continuation lines of a scalar: every line indented
// more than indent.
func (p *parser) skipDeeper(indent int) {
	for p.pos < len(p.lines) && p.lines[p.pos].indent > indent {
		p.pos++
	}
}

// splitKey splits "key: value" (or "key:"); quoted values and flow lists
// are returned as they are.
func splitKey(s string) (key, value string, ok bool) {
	if strings.HasPrefix(s, "'") || strings.HasPrefix(s, `"`) || strings.HasPrefix(s, "[") {
		return "", "", false
	}
	i := strings.Index(s, ":")
	if i <= 0 || (i+1 < len(s) && s[i+1] != ' ') {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// scalar reads a plain, quoted or flow-list scalar; a flow list becomes
// []any of strings.
func scalar(s string) any {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		out := []any{}
		for _, f := range strings.Split(strings.Trim(s, "[]"), ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, unquote(f))
			}
		}
		return out
	}
	return unquote(s)
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '\'' && s[len(s)-1] == '\'' || s[0] == '"' && s[len(s)-1] == '"') {
		return s[1 : len(s)-1]
	}
	return s
}
