package profile

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"math"
	"slices"
	"strconv"
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

// appendXMLPlist appends the XML property list document of v to buf. It
// reports false, leaving buf in an unspecified state, when v holds a type
// it does not handle.
func appendXMLPlist(buf *bytes.Buffer, v any) bool {
	buf.WriteString(xmlHeader)
	if !appendXMLValue(buf, v, 1) {
		return false
	}
	buf.WriteString(xmlFooter)
	return true
}

func xmlIndent(buf *bytes.Buffer, depth int) {
	buf.WriteByte('\n')
	for range depth {
		buf.WriteByte('\t')
	}
}

func xmlElement(buf *bytes.Buffer, depth int, tag, text string) {
	xmlIndent(buf, depth)
	buf.WriteByte('<')
	buf.WriteString(tag)
	if text == "" {
		buf.WriteString("/>")
		return
	}
	buf.WriteByte('>')
	xmlEscape(buf, text)
	buf.WriteString("</")
	buf.WriteString(tag)
	buf.WriteByte('>')
}

// xmlEscape writes s as encoding/xml.EscapeText does.
func xmlEscape(buf *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '&' || c == '<' || c == '>' || c == '"' || c == '\'' {
			xml.EscapeText(buf, []byte(s))
			return
		}
	}
	buf.WriteString(s)
}

func appendXMLValue(buf *bytes.Buffer, v any, depth int) bool {
	switch v := v.(type) {
	case string:
		xmlElement(buf, depth, "string", v)
	case bool:
		if v {
			xmlElement(buf, depth, "true", "")
		} else {
			xmlElement(buf, depth, "false", "")
		}
	case int:
		xmlElement(buf, depth, "integer", strconv.Itoa(v))
	case int64:
		xmlElement(buf, depth, "integer", strconv.FormatInt(v, 10))
	case uint64:
		xmlElement(buf, depth, "integer", strconv.FormatUint(v, 10))
	case float64:
		xmlElement(buf, depth, "real", xmlFloat(v))
	case []byte:
		xmlElement(buf, depth, "data", base64.StdEncoding.EncodeToString(v))
	case time.Time:
		xmlElement(buf, depth, "date", v.In(time.UTC).Format(time.RFC3339))
	case []any:
		xmlIndent(buf, depth)
		buf.WriteString("<array>")
		for _, e := range v {
			if !appendXMLValue(buf, e, depth+1) {
				return false
			}
		}
		xmlIndent(buf, depth)
		buf.WriteString("</array>")
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		xmlIndent(buf, depth)
		buf.WriteString("<dict>")
		for _, k := range keys {
			xmlElement(buf, depth+1, "key", k)
			if !appendXMLValue(buf, v[k], depth+1) {
				return false
			}
		}
		xmlIndent(buf, depth)
		buf.WriteString("</dict>")
	default:
		return false
	}
	return true
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
