package devicesim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Limits on what the device reads from a server.
const (
	maxPageBytes    = 1 << 20
	maxProfileBytes = 1 << 20
	maxMDMBytes     = 4 << 20
)

// profileContentType is the media type of an enrollment profile.
const profileContentType = "application/x-apple-aspen-config"

// page is what the device understands of one portal page.
type page struct {
	// Forms are the page's forms in document order.
	Forms []form
	// DownloadURL is the resolved href of <a id="download-profile">, or "".
	DownloadURL string
	// Alert is the text of the first element with role="alert", whitespace
	// collapsed, or "".
	Alert string
}

// form is one <form> of a page.
type form struct {
	// Method is the form's method in upper case ("GET" when absent).
	Method string
	// Action is the resolved action URL (the page URL when absent).
	Action string
	// Fields are the form's controls in document order.
	Fields []field
}

// field is one form control.
type field struct {
	// Tag is "input", "select", "textarea" or "button".
	Tag string
	// Type is the lower-cased type attribute of an input or button
	// ("text" and "submit" when absent).
	Type string
	// Name and Value are the control's name and (initial) value. For a
	// select, Value is the selected option's value, or the first option's.
	Name, Value string
	// Checked is set on checked checkboxes and radio buttons.
	Checked bool
	// Required is set when the control has the required attribute.
	Required bool
	// Options are the values of a select's options.
	Options []string
}

// parsePage parses a portal page, resolving URLs against base (which may be
// nil). It accepts any input: malformed HTML is repaired the way browsers do.
func parsePage(r io.Reader, base *url.URL) (*page, error) {
	doc, err := html.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("devicesim: parse page: %w", err)
	}
	p := &page{}
	resolve := func(ref string) string {
		ref = strings.TrimSpace(ref)
		if base == nil {
			return ref
		}
		u, err := base.Parse(ref)
		if err != nil {
			return ""
		}
		return u.String()
	}
	var cur *form
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Form:
				f := form{Method: strings.ToUpper(attr(n, "method")), Action: resolve(attr(n, "action"))}
				if f.Method == "" {
					f.Method = http.MethodGet
				}
				p.Forms = append(p.Forms, f)
				prev := cur
				cur = &p.Forms[len(p.Forms)-1]
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
				cur = prev
				return
			case atom.Input:
				if cur != nil {
					typ := strings.ToLower(attr(n, "type"))
					if typ == "" {
						typ = "text"
					}
					cur.Fields = append(cur.Fields, field{Tag: "input", Type: typ, Name: attr(n, "name"),
						Value: attr(n, "value"), Checked: hasAttr(n, "checked"), Required: hasAttr(n, "required")})
				}
			case atom.Button:
				if cur != nil {
					typ := strings.ToLower(attr(n, "type"))
					if typ == "" {
						typ = "submit"
					}
					cur.Fields = append(cur.Fields, field{Tag: "button", Type: typ, Name: attr(n, "name"), Value: attr(n, "value")})
				}
			case atom.Textarea:
				if cur != nil {
					cur.Fields = append(cur.Fields, field{Tag: "textarea", Type: "textarea", Name: attr(n, "name"),
						Value: text(n), Required: hasAttr(n, "required")})
				}
			case atom.Select:
				if cur != nil {
					f := field{Tag: "select", Type: "select", Name: attr(n, "name"), Required: hasAttr(n, "required")}
					selected := false
					var opts func(*html.Node)
					opts = func(o *html.Node) {
						for c := o.FirstChild; c != nil; c = c.NextSibling {
							if c.Type == html.ElementNode && c.DataAtom == atom.Option {
								v, ok := attrOK(c, "value")
								if !ok {
									v = strings.TrimSpace(text(c))
								}
								f.Options = append(f.Options, v)
								if hasAttr(c, "selected") && !selected {
									f.Value, selected = v, true
								}
							} else {
								opts(c)
							}
						}
					}
					opts(n)
					if !selected && len(f.Options) > 0 {
						f.Value = f.Options[0]
					}
					cur.Fields = append(cur.Fields, f)
				}
				return
			case atom.A:
				if p.DownloadURL == "" && attr(n, "id") == "download-profile" {
					p.DownloadURL = resolve(attr(n, "href"))
				}
			}
			if p.Alert == "" && strings.EqualFold(strings.TrimSpace(attr(n, "role")), "alert") {
				p.Alert = strings.Join(strings.Fields(text(n)), " ")
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return p, nil
}

func attrOK(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func attr(n *html.Node, key string) string { v, _ := attrOK(n, key); return v }

func hasAttr(n *html.Node, key string) bool { _, ok := attrOK(n, key); return ok }

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// Values fills the form as the user described by c would and returns what
// the browser submits: hidden fields as given, username/password/passcode
// from c, the ownership choice, the accept checkbox ticked (unless
// c.DeclineTerms), and the first submit button if it has a name. It fails
// with ErrPortalFlow when a required field is one the device knows nothing
// about or the ownership choice is not offered.
func (f *form) Values(c Credentials) (url.Values, error) {
	own := c.Ownership
	if own == "" {
		own = "employee"
	}
	v := url.Values{}
	submitted, ownershipSeen, ownershipSet := false, false, false
	for _, fl := range f.Fields {
		if fl.Name == "" {
			continue
		}
		known := func() (string, bool) {
			switch fl.Name {
			case "username":
				return c.Username, true
			case "password":
				return c.Password, true
			case "passcode":
				return c.Passcode, true
			}
			return "", false
		}
		switch {
		case fl.Tag == "button" || fl.Type == "submit" || fl.Type == "image":
			if fl.Type == "submit" && !submitted {
				submitted = true
				v.Add(fl.Name, fl.Value)
			}
		case fl.Type == "reset" || fl.Type == "button" || fl.Type == "file":
		case fl.Name == "ownership":
			ownershipSeen = true
			switch fl.Type {
			case "radio":
				if fl.Value == own {
					v.Set("ownership", own)
					ownershipSet = true
				}
			case "select":
				for _, o := range fl.Options {
					if o == own {
						v.Set("ownership", own)
						ownershipSet = true
					}
				}
			default:
				v.Set("ownership", own)
				ownershipSet = true
			}
		case fl.Type == "checkbox":
			val := fl.Value
			if val == "" {
				val = "on"
			}
			if fl.Name == "accept" {
				if !c.DeclineTerms {
					v.Add(fl.Name, val)
				}
			} else if fl.Checked {
				v.Add(fl.Name, val)
			}
		case fl.Type == "radio":
			if fl.Checked {
				v.Set(fl.Name, fl.Value)
			}
		case fl.Type == "hidden":
			v.Add(fl.Name, fl.Value)
		default:
			if val, ok := known(); ok {
				v.Set(fl.Name, val)
			} else if fl.Required && fl.Value == "" {
				return nil, fmt.Errorf("%w: form asks for %q, which the device cannot answer", ErrPortalFlow, fl.Name)
			} else {
				v.Add(fl.Name, fl.Value)
			}
		}
	}
	if ownershipSeen && !ownershipSet {
		return nil, fmt.Errorf("%w: form offers no ownership choice %q", ErrPortalFlow, own)
	}
	return v, nil
}

// portalResult is where a portal walk ended.
type portalResult struct {
	profile     []byte // the downloaded profile (profile-based flow)
	accessToken string // the token of the hand-off URL (account-driven flow)
}

// handoffScheme is the scheme of the URL that ends the account-driven web
// authentication.
const handoffScheme = "apple-remotemanagement-user-login"

// walkPortal opens start in the device's browser and follows the portal
// until it serves a profile download or redirects to the account-driven
// hand-off URL.
func (d *Device) walkPortal(ctx context.Context, start string, c Credentials) (*portalResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, start, nil)
	if err != nil {
		return nil, fmt.Errorf("devicesim: portal: %w", err)
	}
	d.browserHeaders(req, "none")
	for step := 0; step < d.opts.MaxPortalSteps; step++ {
		resp, err := d.web.Do(req)
		if err != nil {
			return nil, fmt.Errorf("devicesim: portal: %w", err)
		}
		next, res, err := d.portalStep(ctx, resp, c)
		resp.Body.Close()
		if err != nil || res != nil {
			return res, err
		}
		req = next
	}
	return nil, fmt.Errorf("%w: still no profile after %d pages", ErrPortalFlow, d.opts.MaxPortalSteps)
}

// portalStep handles one response: it returns either the next request, or
// the end of the walk.
func (d *Device) portalStep(ctx context.Context, resp *http.Response, c Credentials) (*http.Request, *portalResult, error) {
	pageURL := resp.Request.URL
	if resp.StatusCode/100 == 3 {
		loc, err := resp.Location()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: redirect %d without a usable Location", ErrPortalFlow, resp.StatusCode)
		}
		if loc.Scheme != handoffScheme {
			return nil, nil, fmt.Errorf("%w: redirect to unsupported URL %q", ErrPortalFlow, loc.Redacted())
		}
		tok := loc.Query().Get("access-token")
		if tok == "" {
			return nil, nil, fmt.Errorf("%w: hand-off URL carries no access-token", ErrPortalFlow)
		}
		d.log.DebugContext(ctx, "devicesim: portal handed off", "status", resp.StatusCode)
		return nil, &portalResult{accessToken: tok}, nil
	}
	body, err := readLimited(resp.Body, maxPageBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("devicesim: portal: %s: %w", pageURL.Redacted(), err)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode == http.StatusOK && mt == profileContentType {
		return nil, &portalResult{profile: body}, nil
	}
	page, err := parsePage(bytes.NewReader(body), pageURL)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode >= 400 {
		return nil, nil, &PortalError{URL: pageURL.Redacted(), StatusCode: resp.StatusCode, Message: page.Alert}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("%w: %s answered %d", ErrPortalFlow, pageURL.Redacted(), resp.StatusCode)
	}
	d.log.DebugContext(ctx, "devicesim: portal page", "url", pageURL.Redacted(), "forms", len(page.Forms))
	if page.DownloadURL != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, page.DownloadURL, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("devicesim: portal: download link: %w", err)
		}
		d.browserHeaders(req, "same-origin")
		return req, nil, nil
	}
	var post *form
	for i := range page.Forms {
		if page.Forms[i].Method == http.MethodPost {
			if post != nil {
				return nil, nil, fmt.Errorf("%w: %s has more than one POST form", ErrPortalFlow, pageURL.Redacted())
			}
			post = &page.Forms[i]
		}
	}
	if post == nil {
		return nil, nil, fmt.Errorf("%w: %s has neither a POST form nor a download link", ErrPortalFlow, pageURL.Redacted())
	}
	vals, err := post.Values(c)
	if err != nil {
		return nil, nil, err
	}
	action := post.Action
	if action == "" {
		action = pageURL.String()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, action, strings.NewReader(vals.Encode()))
	if err != nil {
		return nil, nil, fmt.Errorf("devicesim: portal: form action: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", pageURL.Scheme+"://"+pageURL.Host)
	req.Header.Set("Referer", pageURL.String())
	site := "same-origin"
	if req.URL.Host != pageURL.Host || req.URL.Scheme != pageURL.Scheme {
		site = "cross-site"
	}
	d.browserHeaders(req, site)
	return req, nil, nil
}

// browserHeaders sets the headers Mobile Safari sends on a navigation.
func (d *Device) browserHeaders(req *http.Request, fetchSite string) {
	req.Header.Set("User-Agent", d.safariUserAgent())
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	req.Header.Set("Accept-Language", d.opts.Language)
	req.Header.Set("Sec-Fetch-Site", fetchSite)
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	req.Header.Set("Sec-Fetch-Dest", "document")
}
