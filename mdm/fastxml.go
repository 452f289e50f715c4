package mdm

import (
	"bytes"
	"encoding/base64"
	"unicode/utf8"
)

// decodeFastXML decodes the common shape of a device message, a flat XML
// plist dictionary of strings, data and booleans, without reflection or an
// XML tokenizer: check-ins arrive on every push and poll, and the generic
// decoder spends most of a check-in's allocations. It reports false for
// anything outside that shape (entities, comments, nested containers,
// numbers, unusual declarations, a value of the wrong type for a known key),
// and the caller then uses the general decoder, which also produces the
// errors. For every input it accepts, it yields exactly what the general
// decoder yields; FuzzFastXML checks that.
func decodeFastXML(b []byte, w *wire) bool {
	p := fastParser{b: b}
	p.ws()
	if p.eat("<?xml") {
		end := bytes.Index(p.b, []byte("?>"))
		if end < 0 {
			return false
		}
		switch string(bytes.TrimSpace(p.b[:end])) {
		case `version="1.0" encoding="UTF-8"`, `version="1.0" encoding="utf-8"`, `version="1.0"`:
		default:
			return false
		}
		p.b = p.b[end+2:]
		p.ws()
	}
	if p.eat("<!DOCTYPE ") {
		end := bytes.IndexByte(p.b, '>')
		if end < 0 {
			return false
		}
		decl := p.b[:end]
		if bytes.Count(decl, []byte{'"'})%2 != 0 || bytes.ContainsAny(decl, "[<'&") || !utf8.Valid(decl) {
			return false
		}
		p.b = p.b[end+1:]
		p.ws()
	}
	if !p.eat("<plist>") && !p.eat(`<plist version="1.0">`) {
		return false
	}
	p.ws()
	if !p.eat("<dict>") {
		return false
	}
	for {
		p.ws()
		if p.eat("</dict>") {
			break
		}
		if !p.eat("<key>") {
			return false
		}
		key, ok := p.text("</key>")
		if !ok {
			return false
		}
		p.ws()
		if !p.value(key, w) {
			return false
		}
	}
	p.ws()
	if !p.eat("</plist>") {
		return false
	}
	p.ws()
	return len(p.b) == 0
}

type fastParser struct{ b []byte }

func (p *fastParser) ws() {
	i := 0
	for i < len(p.b) && (p.b[i] == ' ' || p.b[i] == '\t' || p.b[i] == '\n' || p.b[i] == '\r') {
		i++
	}
	p.b = p.b[i:]
}

func (p *fastParser) eat(s string) bool {
	if len(p.b) >= len(s) && string(p.b[:len(s)]) == s {
		p.b = p.b[len(s):]
		return true
	}
	return false
}

// text returns the character data up to the closing tag end. It refuses
// markup, entities, carriage returns (which XML normalises) and characters
// XML does not allow.
func (p *fastParser) text(end string) ([]byte, bool) {
	i := bytes.IndexByte(p.b, '<')
	if i < 0 {
		return nil, false
	}
	t := p.b[:i]
	p.b = p.b[i:]
	if !p.eat(end) || !plainText(t) {
		return nil, false
	}
	return t, true
}

func plainText(t []byte) bool {
	for i := 0; i < len(t); {
		c := t[i]
		if c < utf8.RuneSelf {
			if c == '&' || c == '\r' || c == '>' || (c < 0x20 && c != '\t' && c != '\n') {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(t[i:])
		if r == utf8.RuneError || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += n
	}
	return true
}

type fastKind int

const (
	fastString fastKind = iota + 1
	fastData
	fastBool
)

// value decodes the value of key into w.
func (p *fastParser) value(key []byte, w *wire) bool {
	var kind fastKind
	var raw []byte
	var bv bool
	switch {
	case p.eat("<string>"):
		t, ok := p.text("</string>")
		if !ok {
			return false
		}
		kind, raw = fastString, t
	case p.eat("<string/>"):
		kind, raw = fastString, nil
	case p.eat("<data>"):
		t, ok := p.text("</data>")
		if !ok {
			return false
		}
		kind, raw = fastData, t
	case p.eat("<data/>"):
		kind, raw = fastData, nil
	case p.eat("<true/>"):
		kind, bv = fastBool, true
	case p.eat("<false/>"):
		kind, bv = fastBool, false
	default:
		return false
	}
	var sp *string
	var dp *[]byte
	var bp *bool
	switch string(key) {
	case "MessageType":
		sp = &w.MessageType
	case "Status":
		sp = &w.Status
	case "CommandUUID":
		sp = &w.CommandUUID
	case "Topic":
		sp = &w.Topic
	case "UDID":
		sp = &w.UDID
	case "EnrollmentID":
		sp = &w.EnrollmentID
	case "EnrollmentUserID":
		sp = &w.EnrollmentUserID
	case "UserID":
		sp = &w.UserID
	case "UserShortName":
		sp = &w.UserShortName
	case "UserLongName":
		sp = &w.UserLongName
	case "OSVersion":
		sp = &w.OSVersion
	case "BuildVersion":
		sp = &w.BuildVersion
	case "ProductName":
		sp = &w.ProductName
	case "SerialNumber":
		sp = &w.SerialNumber
	case "IMEI":
		sp = &w.IMEI
	case "MEID":
		sp = &w.MEID
	case "DeviceName":
		sp = &w.DeviceName
	case "Model":
		sp = &w.Model
	case "ModelName":
		sp = &w.ModelName
	case "PushMagic":
		sp = &w.PushMagic
	case "DigestResponse":
		sp = &w.DigestResponse
	case "Endpoint":
		sp = &w.Endpoint
	case "TokenServiceType":
		sp = &w.TokenServiceType
	case "Token":
		dp = &w.Token
	case "UnlockToken":
		dp = &w.UnlockToken
	case "BootstrapToken":
		dp = &w.BootstrapToken
	case "Data":
		dp = &w.Data
	case "AwaitingConfiguration":
		bp = &w.AwaitingConfiguration
	case "NotOnConsole":
		bp = &w.NotOnConsole
	case "ErrorChain", "TokenParameters":
		return false // containers: the general decoder handles them
	}
	switch {
	case sp != nil:
		if kind != fastString {
			return false
		}
		*sp = string(raw)
	case dp != nil:
		if kind != fastData {
			return false
		}
		d, ok := decodeData(raw)
		if !ok {
			return false
		}
		*dp = d
	case bp != nil:
		if kind != fastBool {
			return false
		}
		*bp = bv
	default:
		// An unknown key: its value is ignored, but must be valid.
		if kind == fastData {
			if _, ok := decodeData(raw); !ok {
				return false
			}
		}
	}
	return true
}

// decodeData decodes a <data> element as the general decoder does: spaces,
// tabs and newlines removed, then standard padded base64.
func decodeData(t []byte) ([]byte, bool) {
	var buf [256]byte
	clean := buf[:0]
	for _, c := range t {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			clean = append(clean, c)
		}
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(out, clean)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}
