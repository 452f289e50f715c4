package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const mailYAML = `title: Account:Mail
description: The declaration to configure a Mail account.
payload:
  declarationtype: com.apple.configuration.account.mail
  supportedOS:
    iOS:
      introduced: '15.0'
      allowed-enrollments:
      - device
      - user
      allowed-scopes:
      - system
      sharedipad:
        allowed-scopes: []
    tvOS:
      introduced: n/a
  apply: multiple
payloadkeys:
- key: VisibleName
  type: <string>
  content: The name that apps show to the user for this mail account. If not present,
    the system generates: a suitable default.
- key: IncomingServer
  type: <dictionary>
  content: |-
    Settings:
    - key: not a key
  subkeys: &id001
  - key: AuthenticationCredentialsAssetReference
    type: <string>
    assettypes:
    - com.apple.asset.credential.userpassword
- key: OutgoingServer
  subkeys: *id001
`

const assetYAML = `payload:
  declarationtype: com.apple.asset.data
  supportedOS:
    iOS:
      introduced: '17.0'
    macOS:
      introduced: '14.0'
`

const keyRuleYAML = `payload:
  declarationtype: com.apple.configuration.example
  supportedOS:
    iOS:
      introduced: '17.0'
      allowed-enrollments:
      - supervised
      - user
payloadkeys:
- key: List
  type: <array>
  subkeys:
  - key: ListItem
    type: <dictionary>
    subkeys:
    - key: Flag
      type: <boolean>
      supportedOS:
        iOS:
          allowed-enrollments:
          - supervised
        macOS:
          introduced: '14.0'
`

func TestKeyRules(t *testing.T) {
	doc, err := parseYAML(strings.NewReader(keyRuleYAML))
	if err != nil {
		t.Fatal(err)
	}
	d, ok := declaration(doc)
	if !ok || len(d.keyRules) != 1 {
		t.Fatalf("key rules = %+v", d.keyRules)
	}
	if k := d.keyRules[0]; k.path != "List.Flag" || k.platform != "iOS" || !slices.Equal(k.enrollments, []string{"supervised"}) || k.scopes != nil {
		t.Fatalf("key rule = %+v (array items are not part of the path)", k)
	}
}

const subSchemaYAML = `title: shared keys
payload:
  supportedOS:
    iOS:
      introduced: '15.0'
`

func TestScanDirAndRender(t *testing.T) {
	dir := t.TempDir()
	for name, y := range map[string]string{"account.mail.yaml": mailYAML, "data.yaml": assetYAML, "sub.yaml": subSchemaYAML} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	types, err := scanDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(types) != 2 || types[0].name != "com.apple.asset.data" || types[1].name != "com.apple.configuration.account.mail" {
		t.Fatalf("types = %+v", types)
	}
	mail := types[1]
	if len(mail.platforms) != 1 {
		t.Fatalf("mail platforms = %+v (tvOS n/a must be left out)", mail.platforms)
	}
	p := mail.platforms[0]
	if p.name != "iOS" || p.introduced != "15.0" || !slices.Equal(p.enrollments, []string{"device", "user"}) || !slices.Equal(p.scopes, []string{"system"}) {
		t.Fatalf("mail iOS = %+v", p)
	}
	if got := mail.assetKeys["AuthenticationCredentialsAssetReference"]; !slices.Equal(got, []string{"com.apple.asset.credential.userpassword"}) {
		t.Fatalf("asset keys = %v", mail.assetKeys)
	}
	if a := types[0].platforms; len(a) != 2 || a[0].enrollments != nil || a[0].scopes != nil {
		t.Fatalf("asset platforms = %+v (no restriction must stay nil)", a)
	}
	src, err := render(types)
	if err != nil || !strings.HasPrefix(string(src), "// Code generated") || !strings.Contains(string(src), `enrollments: []string{"device", "user"}`) {
		t.Fatalf("render = %s, %v", src, err)
	}
	if _, err := scanDir(t.TempDir()); err == nil {
		t.Fatal("empty directory accepted")
	}
}

func TestParseYAMLShapes(t *testing.T) {
	doc, err := parseYAML(strings.NewReader("a:\n  b: [x, 'y']\n  c: []\nl:\n- 1\n- k: v\n  k2: w\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := doc["a"].(map[string]any)
	if b := a["b"].([]any); len(b) != 2 || b[1] != "y" {
		t.Fatalf("b = %v", a["b"])
	}
	if c := a["c"].([]any); len(c) != 0 {
		t.Fatalf("c = %v", a["c"])
	}
	l := doc["l"].([]any)
	if len(l) != 2 || l[0] != "1" || l[1].(map[string]any)["k2"] != "w" {
		t.Fatalf("l = %v", l)
	}
}

// TestGeneratedTableIsCurrent regenerates the table from a schema checkout
// named by APPLE_DEVICE_MANAGEMENT and compares it with the committed file.
func TestGeneratedTableIsCurrent(t *testing.T) {
	root := os.Getenv("APPLE_DEVICE_MANAGEMENT")
	if root == "" {
		t.Skip("set APPLE_DEVICE_MANAGEMENT to a device-management schema checkout to compare the generated table")
	}
	types, err := scanDir(filepath.Join(root, "declarative", "declarations"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := render(types)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join("..", "..", "zz_schema.go"))
	if err != nil {
		t.Fatal(err)
	}
	if string(src) != string(committed) {
		t.Fatalf("zz_schema.go is stale; run go generate in ddm")
	}
}
