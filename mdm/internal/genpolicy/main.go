package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"io"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/enrollkit/enrollkit/mdm/internal/release"
)

func main() {
	out := flag.String("o", "zz_policy.go", "output file")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("genpolicy: usage: genpolicy -o file <schema root>")
	}
	t, err := load(flag.Arg(0))
	if err != nil {
		log.Fatal(err)
	}
	src, err := render(t)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

// osID indexes the OSes of the schema's supportedOS objects.
type osID int

const (
	iOS osID = iota
	macOS
	tvOS
	visionOS
	watchOS
	numOS
)

// osNames are the schema's names of the OSes; osConsts the names of the
// matching index constants in package mdm.
var (
	osNames  = [numOS]string{"iOS", "macOS", "tvOS", "visionOS", "watchOS"}
	osConsts = [numOS]string{"schemaIOS", "schemaMacOS", "schemaTVOS", "schemaVisionOS", "schemaWatchOS"}
)

// osFacts is what one OS supports of one command. Introduced is empty when
// the OS does not have the command.
type osFacts struct {
	Introduced, Removed string
	// Device and User: the channels the command runs on.
	Device, User bool
	// UserEnrollment: a User Enrollment may receive it.
	UserEnrollment bool
	// SharedDevice and SharedUser: a Shared iPad's channels that take it.
	SharedDevice, SharedUser bool
}

// command is one command of the schema.
type command struct {
	RequestType string
	OS          [numOS]osFacts
}

// table is what render writes: the commands by RequestType, the release of
// the schema folder and the change lists applied on top of it.
type table struct {
	Commands []command
	Folder   string
	Changes  []string
	Release  string
}

// load reads the schema root: its commands, its release and the change
// lists of newer releases.
func load(root string) (*table, error) {
	byFile, err := scanDir(filepath.Join(root, "mdm", "commands"))
	if err != nil {
		return nil, err
	}
	folder, err := readRelease(filepath.Join(root, "README.md"))
	if err != nil {
		return nil, err
	}
	t := &table{Folder: folder, Release: folder}
	lists, err := filepath.Glob(filepath.Join(root, "CHANGES-*.md"))
	if err != nil {
		return nil, err
	}
	type changeList struct {
		release, path string
	}
	var newerLists []changeList
	for _, p := range lists {
		rel := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "CHANGES-"), ".md")
		if _, ok := release.Parse(rel); !ok {
			return nil, fmt.Errorf("genpolicy: %s: no release in the file name", filepath.Base(p))
		}
		if compareVersions(rel, folder) > 0 {
			newerLists = append(newerLists, changeList{rel, p})
		}
	}
	slices.SortFunc(newerLists, func(a, b changeList) int { return compareVersions(a.release, b.release) })
	for _, l := range newerLists {
		added, removed, err := readChanges(l.path)
		if err != nil {
			return nil, err
		}
		name := filepath.Base(l.path)
		for _, f := range removed {
			c, ok := byFile[f]
			if !ok {
				return nil, fmt.Errorf("genpolicy: %s removes mdm/commands/%s, which the %s folder does not have", name, f, folder)
			}
			for i := range c.OS {
				if c.OS[i].Introduced != "" && c.OS[i].Removed == "" {
					c.OS[i].Removed = l.release
				}
			}
			byFile[f] = c
		}
		for _, f := range added {
			if _, ok := byFile[f]; ok {
				continue
			}
			c, ok := newer[f]
			if !ok {
				return nil, fmt.Errorf("genpolicy: %s adds mdm/commands/%s, which neither the %s folder nor genpolicy's newer.go describes: generate from a schema folder of release %s or later", name, f, folder, l.release)
			}
			byFile[f] = c
		}
		t.Changes = append(t.Changes, name)
		t.Release = l.release
	}
	for f, c := range retired {
		if _, ok := byFile[f]; !ok {
			byFile[f] = c
		}
	}
	seen := make(map[string]string)
	for f, c := range byFile {
		if prev, ok := seen[c.RequestType]; ok {
			return nil, fmt.Errorf("genpolicy: %s and %s both describe %s", prev, f, c.RequestType)
		}
		seen[c.RequestType] = f
		t.Commands = append(t.Commands, c)
	}
	slices.SortFunc(t.Commands, func(a, b command) int { return strings.Compare(a.RequestType, b.RequestType) })
	return t, nil
}

// scanDir returns the commands of the YAML files in dir by file name.
func scanDir(dir string) (map[string]command, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("genpolicy: no YAML files in %s", dir)
	}
	byFile := make(map[string]command, len(files))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		c, err := scan(fh)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("genpolicy: %s: %w", filepath.Base(f), err)
		}
		if c.RequestType == "" {
			return nil, fmt.Errorf("genpolicy: %s: no payload.requesttype", filepath.Base(f))
		}
		byFile[filepath.Base(f)] = c
	}
	return byFile, nil
}

var keyLine = regexp.MustCompile(`^( *)([A-Za-z][A-Za-z0-9_.-]*):\s*(.*)$`)

// scan reads one command schema: its RequestType and what each OS of its
// payload.supportedOS supports.
func scan(r io.Reader) (command, error) {
	type level struct {
		indent int
		key    string
	}
	var (
		c     command
		stack []level
		raw   = make(map[string]string) // "iOS.userenrollment.mode" → value
	)
	const prefix = "payload.supportedOS."
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		m := keyLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue // list items, continuation lines, comments
		}
		indent := len(m[1])
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		stack = append(stack, level{indent, m[2]})
		keys := make([]string, len(stack))
		for i, l := range stack {
			keys[i] = l.key
		}
		path := strings.Join(keys, ".")
		val := strings.Trim(strings.TrimSpace(m[3]), `'"`)
		switch {
		case path == "payload.requesttype":
			c.RequestType = val
		case strings.HasPrefix(path, prefix):
			raw[strings.TrimPrefix(path, prefix)] = val
		}
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	for i, name := range osNames {
		get := func(key string) string { return raw[name+"."+key] }
		intro := get("introduced")
		if intro == "" || intro == "n/a" {
			continue
		}
		if _, ok := release.Parse(intro); !ok {
			return c, fmt.Errorf("%s introduced %q is not a version", name, intro)
		}
		removed := get("removed")
		if removed == "n/a" {
			removed = ""
		}
		if _, ok := release.Parse(removed); removed != "" && !ok {
			return c, fmt.Errorf("%s removed %q is not a version", name, removed)
		}
		shared := allows(get("sharedipad.mode"))
		c.OS[i] = osFacts{
			Introduced:     intro,
			Removed:        removed,
			Device:         get("devicechannel") != "false",
			User:           get("userchannel") == "true",
			UserEnrollment: allows(get("userenrollment.mode")),
			SharedDevice:   shared && get("sharedipad.devicechannel") != "false",
			SharedUser:     shared && get("sharedipad.userchannel") == "true",
		}
	}
	return c, nil
}

// allows reports whether a userenrollment or sharedipad mode lets the
// command through: "allowed" or "required". "forbidden", "ignored" and an
// absent mode do not.
func allows(mode string) bool { return mode == "allowed" || mode == "required" }

var releaseRow = regexp.MustCompile(`^\|\s*iOS\s*\|\s*([0-9][0-9.]*)\s*\|`)

// readRelease returns the release of a schema folder: the iOS row of the OS
// table in its README.
func readRelease(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("genpolicy: the schema's release: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if m := releaseRow.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			return m[1], nil
		}
	}
	return "", fmt.Errorf("genpolicy: %s names no iOS release", path)
}

// readChanges returns the command files a change list adds and removes:
// the "- New: mdm/commands/…" and "- Removed: mdm/commands/…" lines of its
// "## mdm/commands" section's "New Objects" and "Removed Objects".
func readChanges(path string) (added, removed []string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("genpolicy: %w", err)
	}
	var section, sub string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "## "):
			section, sub = strings.TrimSpace(line[3:]), ""
		case strings.HasPrefix(line, "### "):
			sub = strings.TrimSpace(line[4:])
		case section != "mdm/commands":
		case sub == "New Objects" && strings.HasPrefix(line, "- New: mdm/commands/"):
			added = append(added, strings.TrimPrefix(line, "- New: mdm/commands/"))
		case sub == "Removed Objects" && strings.HasPrefix(line, "- Removed: mdm/commands/"):
			removed = append(removed, strings.TrimPrefix(line, "- Removed: mdm/commands/"))
		}
	}
	return added, removed, nil
}

// compareVersions compares two releases release.Parse accepts.
func compareVersions(a, b string) int {
	c, _ := release.Compare(a, b)
	return c
}

func render(t *table) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by genpolicy from Apple's device-management schema; DO NOT EDIT.\n\npackage mdm\n\n")
	from := "the " + t.Folder + " schema"
	if len(t.Changes) > 0 {
		from += " with " + strings.Join(t.Changes, ", ")
	}
	fmt.Fprintf(&b, "// schemaRelease is the release of Apple's schema the command table\n// describes: %s.\n", from)
	fmt.Fprintf(&b, "const schemaRelease = %q\n\n", t.Release)
	b.WriteString("// schemaCommands is, for every command of the schema, what each OS supports.\n")
	b.WriteString("var schemaCommands = map[string][numSchemaOS]osSupport{\n")
	for _, c := range t.Commands {
		fmt.Fprintf(&b, "\t%q: {\n", c.RequestType)
		for i, f := range c.OS {
			if f.Introduced == "" {
				continue
			}
			fields := []string{fmt.Sprintf("introduced: %q", f.Introduced)}
			if f.Removed != "" {
				fields = append(fields, fmt.Sprintf("removed: %q", f.Removed))
			}
			for _, flag := range []struct {
				set  bool
				name string
			}{{f.Device, "device"}, {f.User, "user"}, {f.UserEnrollment, "userEnrollment"}, {f.SharedDevice, "sharedDevice"}, {f.SharedUser, "sharedUser"}} {
				if flag.set {
					fields = append(fields, flag.name+": true")
				}
			}
			fmt.Fprintf(&b, "\t\t%s: {%s},\n", osConsts[i], strings.Join(fields, ", "))
		}
		b.WriteString("\t},\n")
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}
