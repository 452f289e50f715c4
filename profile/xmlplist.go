package profile

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The XML writer below produces exactly what the plist library's XML
// encoder (tab indentation) produces for the value types decoding yields,
// at a fraction of the cost: building and signing a profile is dominated
// by the key's signature, and the reflective encoder cost more than half
// as much again. Values of any other type make appendXMLPlist report
// false, and Marshal falls back to the library.

const (
	xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n" +
		`<plist version="1.0">`
	xmlFooter = "\n</plist>"
)

// appendXMLPlist appends the XML property list document of v to out. It
// reports false when v holds a type it does not handle.
func appendXMLPlist(out []byte, v any) ([]byte, bool) {
	out = append(out, xmlHeader...)
	out, ok := appendXMLValue(out, v, 1)
	if !ok {
		return nil, false
	}
	return append(out, xmlFooter...), true
}

const tabs = "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t"

func xmlIndent(out []byte, depth int) []byte {
	out = append(out, '\n')
	for depth > len(tabs) {
		out = append(out, tabs...)
		depth -= len(tabs)
	}
	return append(out, tabs[:depth]...)
}

func xmlElement(out []byte, depth int, tag, text string) []byte {
	out = xmlIndent(out, depth)
	out = append(out, '<')
	out = append(out, tag...)
	if text == "" {
		return append(out, "/>"...)
	}
	out = append(out, '>')
	out = xmlEscape(out, text)
	out = append(out, "</"...)
	out = append(out, tag...)
	return append(out, '>')
}

// xmlElementRaw writes an element whose text needs no escaping and is
// appended by f.
func xmlElementRaw(out []byte, depth int, tag string, f func([]byte) []byte) []byte {
	out = xmlIndent(out, depth)
	out = append(out, '<')
	out = append(out, tag...)
	out = append(out, '>')
	out = f(out)
	out = append(out, "</"...)
	out = append(out, tag...)
	return append(out, '>')
}

// xmlEscape appends s escaped as encoding/xml.EscapeText does.
func xmlEscape(out []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '&' || c == '<' || c == '>' || c == '"' || c == '\'' {
			var buf bytes.Buffer
			xml.EscapeText(&buf, []byte(s))
			return append(out, buf.Bytes()...)
		}
	}
	return append(out, s...)
}

func appendXMLValue(out []byte, v any, depth int) ([]byte, bool) {
	ok := true
	switch v := v.(type) {
	case string:
		out = xmlElement(out, depth, "string", v)
	case bool:
		if v {
			out = xmlElement(out, depth, "true", "")
		} else {
			out = xmlElement(out, depth, "false", "")
		}
	case int:
		out = xmlElementRaw(out, depth, "integer", func(b []byte) []byte { return strconv.AppendInt(b, int64(v), 10) })
	case int64:
		out = xmlElementRaw(out, depth, "integer", func(b []byte) []byte { return strconv.AppendInt(b, v, 10) })
	case uint64:
		out = xmlElementRaw(out, depth, "integer", func(b []byte) []byte { return strconv.AppendUint(b, v, 10) })
	case float64:
		out = xmlElement(out, depth, "real", xmlFloat(v))
	case []byte:
		if len(v) == 0 {
			out = xmlElement(out, depth, "data", "")
		} else {
			out = xmlElementRaw(out, depth, "data", func(b []byte) []byte { return base64.StdEncoding.AppendEncode(b, v) })
		}
	case time.Time:
		out = xmlElementRaw(out, depth, "date", func(b []byte) []byte { return v.In(time.UTC).AppendFormat(b, time.RFC3339) })
	case []any:
		out = xmlIndent(out, depth)
		out = append(out, "<array>"...)
		for _, e := range v {
			if out, ok = appendXMLValue(out, e, depth+1); !ok {
				return nil, false
			}
		}
		out = xmlIndent(out, depth)
		out = append(out, "</array>"...)
	case *dictWriter:
		cmp := func(a, b kv) int { return strings.Compare(a.k, b.k) }
		if !slices.IsSortedFunc(v.kv, cmp) {
			slices.SortFunc(v.kv, cmp)
		}
		out = xmlIndent(out, depth)
		out = append(out, "<dict>"...)
		for i := range v.kv {
			e := &v.kv[i]
			out = xmlElement(out, depth+1, "key", e.k)
			switch e.kind {
			case kvString:
				out = xmlElement(out, depth+1, "string", e.s)
			case kvInt:
				out = xmlElementRaw(out, depth+1, "integer", func(b []byte) []byte { return strconv.AppendInt(b, int64(e.n), 10) })
			default:
				if out, ok = appendXMLValue(out, e.v, depth+1); !ok {
					return nil, false
				}
			}
		}
		out = xmlIndent(out, depth)
		out = append(out, "</dict>"...)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out = xmlIndent(out, depth)
		out = append(out, "<dict>"...)
		for _, k := range keys {
			out = xmlElement(out, depth+1, "key", k)
			if out, ok = appendXMLValue(out, v[k], depth+1); !ok {
				return nil, false
			}
		}
		out = xmlIndent(out, depth)
		out = append(out, "</dict>"...)
	default:
		return nil, false
	}
	return out, true
}

func xmlFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
