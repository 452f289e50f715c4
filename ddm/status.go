package ddm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"
)

// StatusReport is a device's status report as the status endpoint
// receives it, flattened: each status item by its dotted name.
type StatusReport struct {
	// Items are the reported values by item name
	// ("device.operating-system.version"), management.declarations
	// excepted.
	Items map[string]json.RawMessage
	// Declarations are the states in management.declarations.
	Declarations []DeclarationStatus
	// Errors are the items the device could not report.
	Errors []StatusError
	// FullReport is set when the report is complete rather than the
	// changes since the last one.
	FullReport bool
}

// Limits on a status report, far above what a device sends.
const (
	maxStatusBytes = 1 << 20
	maxStatusDepth = 16
	maxStatusItems = 4096
)

// ParseStatusReport parses the JSON a device sends to the status endpoint.
// It fails, with an error matching ErrBadStatusReport and mdm.ErrMalformed,
// on anything but a JSON object with a StatusItems object, well-formed
// declaration states and errors, within size and nesting limits.
func ParseStatusReport(data []byte) (*StatusReport, error) {
	bad := func(format string, a ...any) error {
		return &deviceInputError{kind: ErrBadStatusReport, err: fmt.Errorf(format, a...)}
	}
	if len(data) == 0 || len(data) > maxStatusBytes {
		return nil, bad("%d bytes", len(data))
	}
	if err := checkDepth(data, maxStatusDepth); err != nil {
		return nil, bad("%v", err)
	}
	var raw struct {
		StatusItems map[string]json.RawMessage
		Errors      []struct {
			StatusItem string
			Reasons    []wireReason
		}
		FullReport bool
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, bad("%v", err)
	}
	if raw.StatusItems == nil {
		return nil, bad("no StatusItems object")
	}
	rep := &StatusReport{Items: map[string]json.RawMessage{}, FullReport: raw.FullReport}
	for _, e := range raw.Errors {
		if e.StatusItem == "" {
			return nil, bad("error without StatusItem")
		}
		rep.Errors = append(rep.Errors, StatusError{StatusItem: e.StatusItem, Reasons: reasons(e.Reasons)})
	}
	if err := flatten("", raw.StatusItems, rep); err != nil {
		return nil, bad("%v", err)
	}
	if len(rep.Items)+len(rep.Declarations) > maxStatusItems {
		return nil, bad("more than %d items", maxStatusItems)
	}
	return rep, nil
}

type wireReason struct {
	Code        string          `json:"code"`
	Description string          `json:"description"`
	Details     json.RawMessage `json:"details"`
}

func reasons(in []wireReason) []StatusReason {
	var out []StatusReason
	for _, r := range in {
		out = append(out, StatusReason{Code: r.Code, Description: r.Description, Details: r.Details})
	}
	return out
}

// flatten walks the nested StatusItems object: objects are descended into
// until a value that is not an object, which is one item; the
// management.declarations object is read as declaration states.
func flatten(prefix string, obj map[string]json.RawMessage, rep *StatusReport) error {
	for k, v := range obj {
		if k == "" {
			continue
		}
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		if name == "management.declarations" {
			if err := declarationStates(v, rep); err != nil {
				return err
			}
			continue
		}
		if t := bytes.TrimLeft(v, " \t\r\n"); len(t) > 0 && t[0] == '{' {
			var child map[string]json.RawMessage
			if err := json.Unmarshal(v, &child); err != nil {
				return err
			}
			if len(child) > 0 {
				if err := flatten(name, child, rep); err != nil {
					return err
				}
				continue
			}
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, v); err != nil {
			return err
		}
		rep.Items[name] = compact.Bytes()
	}
	return nil
}

// declarationStates reads management.declarations.
func declarationStates(v json.RawMessage, rep *StatusReport) error {
	var d map[string][]struct {
		Identifier  string       `json:"identifier"`
		ServerToken string       `json:"server-token"`
		Active      bool         `json:"active"`
		Valid       string       `json:"valid"`
		Reasons     []wireReason `json:"reasons"`
	}
	if err := json.Unmarshal(v, &d); err != nil {
		return fmt.Errorf("management.declarations: %w", err)
	}
	for key, list := range d {
		class := Class(strings.TrimSuffix(key, "s"))
		switch class {
		case ClassActivation, ClassAsset, ClassConfiguration, ClassManagement:
		default:
			continue // a class this release does not know
		}
		for _, x := range list {
			if x.Identifier == "" {
				return fmt.Errorf("management.declarations.%s: item without identifier", key)
			}
			rep.Declarations = append(rep.Declarations, DeclarationStatus{Class: class, Identifier: x.Identifier,
				ServerToken: x.ServerToken, Active: x.Active, Valid: x.Valid, Reasons: reasons(x.Reasons)})
		}
	}
	return nil
}

// checkDepth refuses JSON nested deeper than limit before it is decoded.
func checkDepth(data []byte, limit int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > limit {
				return fmt.Errorf("nested deeper than %d", limit)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// merge applies the report to the previous status: a full report replaces
// it, an incremental one updates the items and declarations it names.
func (rep *StatusReport) merge(prev *Status, now time.Time) *Status {
	next := &Status{Enrollment: prev.Enrollment, Items: map[string]json.RawMessage{}, Declarations: map[string]DeclarationStatus{}, UpdatedAt: now}
	if !rep.FullReport {
		maps.Copy(next.Items, prev.Items)
		maps.Copy(next.Declarations, prev.Declarations)
	}
	maps.Copy(next.Items, rep.Items)
	for _, d := range rep.Declarations {
		next.Declarations[d.Identifier] = d
	}
	next.Errors = rep.Errors
	return next
}
