package profile

import (
	"bytes"
	"fmt"
	"maps"

	"howett.net/plist"
)

// Format is a property list encoding.
type Format int

// Property list encodings a device accepts.
const (
	// XML is the XML property list format; Marshal's default.
	XML Format = iota
	// Binary is the binary property list format ("bplist00").
	Binary
)

// String returns "xml" or "binary".
func (f Format) String() string {
	if f == Binary {
		return "binary"
	}
	return "xml"
}

// Marshal encodes p as an XML property list with tab indentation. Keys are
// sorted, so the same profile always gives the same bytes. Marshal does not
// validate; the builders and Validate do.
func Marshal(p *Profile) ([]byte, error) { return marshalFormat(p, XML) }

// marshalFormat encodes p as a property list in format f.
func marshalFormat(p *Profile, f Format) ([]byte, error) {
	return appendMarshal(nil, p, f)
}

// appendMarshal appends the encoding of p to dst.
func appendMarshal(dst []byte, p *Profile, f Format) ([]byte, error) {
	d, err := p.toDict()
	if err != nil {
		return nil, err
	}
	buf := bytes.NewBuffer(dst)
	var enc *plist.Encoder
	if f == Binary {
		enc = plist.NewBinaryEncoder(buf)
	} else {
		enc = plist.NewEncoderForFormat(buf, plist.XMLFormat)
		enc.Indent("\t")
	}
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("profile: encode: %w", err)
	}
	return buf.Bytes(), nil
}

func (p *Profile) toDict() (dict, error) {
	content := make([]any, len(p.Payloads))
	for i, pl := range p.Payloads {
		if pl == nil {
			return nil, fieldErr(itemPath(i), ErrMissing, "nil payload")
		}
		content[i] = pl.toDict()
	}
	w := newDict(p.Extra)
	if p.ConsentText != nil {
		w.set("ConsentText", maps.Clone(p.ConsentText))
	}
	w.set("PayloadContent", content)
	w.str("PayloadDescription", p.PayloadDescription)
	w.str("PayloadDisplayName", p.PayloadDisplayName)
	w.str("PayloadIdentifier", p.PayloadIdentifier)
	w.str("PayloadOrganization", p.PayloadOrganization)
	w.boolean("PayloadRemovalDisallowed", p.PayloadRemovalDisallowed)
	w.str("PayloadScope", p.PayloadScope)
	w.strAlways("PayloadType", TypeConfiguration)
	w.str("PayloadUUID", p.PayloadUUID)
	w.set("PayloadVersion", 1)
	return w, nil
}

// Unmarshal decodes an unsigned profile from an XML or binary property
// list. It checks structure and types, not policy; call Validate for that.
// To read a possibly signed profile, use Parse.
func Unmarshal(data []byte) (*Profile, error) {
	p, _, err := unmarshal(data)
	return p, err
}

func unmarshal(data []byte) (p *Profile, f Format, err error) {
	var v any
	format, err := decodePlist(data, &v)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrNotProfile, err)
	}
	switch format {
	case plist.XMLFormat:
		f = XML
	case plist.BinaryFormat:
		f = Binary
	default:
		return nil, 0, fmt.Errorf("%w: %s property lists are not accepted", ErrNotProfile, plist.FormatNames[format])
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, 0, fmt.Errorf("%w: top level is %s, not a dictionary", ErrNotProfile, plistTypeName(v))
	}
	p, err = profileFromDict(d)
	return p, f, err
}

func profileFromDict(d map[string]any) (*Profile, error) {
	r := newReader(d, "")
	if t := r.str("PayloadType"); t != TypeConfiguration {
		if r.err != nil {
			return nil, r.err
		}
		return nil, fieldErr("PayloadType", ErrNotProfile, "got %q", t)
	}
	r.used["PayloadVersion"] = true
	p := &Profile{
		PayloadIdentifier:        r.str("PayloadIdentifier"),
		PayloadUUID:              r.str("PayloadUUID"),
		PayloadDisplayName:       r.str("PayloadDisplayName"),
		PayloadOrganization:      r.str("PayloadOrganization"),
		PayloadDescription:       r.str("PayloadDescription"),
		PayloadScope:             r.str("PayloadScope"),
		PayloadRemovalDisallowed: r.boolean("PayloadRemovalDisallowed"),
	}
	if ct := r.dict("ConsentText"); ct != nil {
		cr := newReader(ct, "ConsentText")
		p.ConsentText = make(map[string]string, len(ct))
		for k := range ct {
			p.ConsentText[k] = cr.str(k)
		}
		if cr.err != nil {
			return nil, cr.err
		}
	}
	content, ok := r.get("PayloadContent")
	if r.err != nil {
		return nil, r.err
	}
	if ok {
		items, ok := content.([]any)
		if !ok {
			return nil, fieldErr("PayloadContent", ErrWrongType, "want array, got %s", plistTypeName(content))
		}
		p.Payloads = make([]Payload, 0, len(items))
		for i, it := range items {
			pl, err := payloadFromDict(it, itemPath(i))
			if err != nil {
				return nil, err
			}
			p.Payloads = append(p.Payloads, pl)
		}
	}
	p.Extra = r.extra()
	return p, nil
}

func payloadFromDict(v any, path string) (Payload, error) {
	d, ok := v.(map[string]any)
	if !ok {
		return nil, fieldErr(path, ErrWrongType, "want dictionary, got %s", plistTypeName(v))
	}
	r := newReader(d, path)
	typ := r.str("PayloadType")
	if r.err != nil {
		return nil, r.err
	}
	if typ == "" {
		return nil, fieldErr(path+".PayloadType", ErrMissing, "")
	}
	var pl Payload
	switch typ {
	case TypeMDM:
		m := new(MDM)
		m.read(r)
		pl = m
	case TypeSCEP:
		s := new(SCEP)
		s.read(r)
		pl = s
	case TypeACME:
		a := new(ACME)
		a.read(r)
		pl = a
	case TypePKCS12:
		k := new(PKCS12)
		k.read(r)
		pl = k
	case TypeRoot:
		c := new(Root)
		c.read(r)
		pl = c
	case TypePEM:
		c := new(PEM)
		c.read(r)
		pl = c
	default:
		g := &Generic{PayloadType: typ}
		g.Header.read(r)
		g.Content = r.extra()
		pl = g
	}
	if r.err != nil {
		return nil, r.err
	}
	return pl, nil
}
