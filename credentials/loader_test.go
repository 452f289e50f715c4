package credentials

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkIdentity asserts id is p's leaf key with wantChain, and that the key
// really signs for the leaf certificate.
func checkIdentity(t *testing.T, id *Identity, p *pki, wantChain ...*x509.Certificate) {
	t.Helper()
	if len(id.Chain) != len(wantChain) {
		t.Fatalf("chain has %d certificates, want %d", len(id.Chain), len(wantChain))
	}
	for i, c := range wantChain {
		if !id.Chain[i].Equal(c) {
			t.Errorf("chain[%d] = %s, want %s", i, id.Chain[i].Subject, c.Subject)
		}
	}
	if !id.Leaf().Equal(p.leaf) {
		t.Error("Leaf() is not the leaf")
	}
	msg := []byte("enrollkit")
	digest := sha256.Sum256(msg)
	var (
		sig []byte
		err error
		alg x509.SignatureAlgorithm
	)
	switch id.Signer.(type) {
	case ed25519.PrivateKey:
		sig, err = id.Signer.Sign(rand.Reader, msg, crypto.Hash(0))
		alg = x509.PureEd25519
	case *rsa.PrivateKey:
		sig, err = id.Signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		alg = x509.SHA256WithRSA
	case *ecdsa.PrivateKey:
		sig, err = id.Signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		alg = x509.ECDSAWithSHA256
	default:
		t.Fatalf("signer is a %T", id.Signer)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := id.Leaf().CheckSignature(alg, msg, sig); err != nil {
		t.Errorf("signature by the loaded key does not verify with the leaf: %v", err)
	}
}

func TestLoadIdentityFormats(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"ecdsa", "rsa", "ed25519"} {
		p := newPKI(t, kind, certOpts{})
		chainPEM := certPEM(p.leaf, p.inter, p.root)
		pk8 := pkcs8DER(t, p.leafKey)
		type input struct {
			name  string
			files [][]byte
		}
		inputs := []input{
			{"PKCS#8 PEM + chain PEM", [][]byte{keyPEM(t, "PRIVATE KEY", pk8), chainPEM}},
			{"one PEM bundle, key last", [][]byte{append(append([]byte{}, chainPEM...), keyPEM(t, "PRIVATE KEY", pk8)...)}},
			{"PKCS#8 DER + DER certificates", [][]byte{pk8, p.leaf.Raw, append(append([]byte{}, p.inter.Raw...), p.root.Raw...)}},
			{"chain shuffled", [][]byte{certPEM(p.root, p.leaf, p.inter), keyPEM(t, "PRIVATE KEY", pk8)}},
		}
		switch kind {
		case "rsa":
			pk1 := x509.MarshalPKCS1PrivateKey(p.leafKey.(*rsa.PrivateKey))
			inputs = append(inputs,
				input{"PKCS#1 PEM", [][]byte{keyPEM(t, "RSA PRIVATE KEY", pk1), chainPEM}},
				input{"PKCS#1 DER", [][]byte{pk1, chainPEM}},
				input{"PKCS#1 body under PRIVATE KEY", [][]byte{keyPEM(t, "PRIVATE KEY", pk1), chainPEM}},
			)
		case "ecdsa":
			sec1 := sec1DER(t, p.leafKey)
			withParams := append([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"), keyPEM(t, "EC PRIVATE KEY", sec1)...)
			inputs = append(inputs,
				input{"SEC 1 PEM with EC PARAMETERS", [][]byte{withParams, chainPEM}},
				input{"SEC 1 DER", [][]byte{sec1, chainPEM}},
			)
		}
		for _, in := range inputs {
			t.Run(kind+"/"+in.name, func(t *testing.T) {
				dir := t.TempDir()
				var paths []string
				for i, f := range in.files {
					paths = append(paths, writeFile(t, dir, "f"+string(rune('0'+i)), f))
				}
				l := &Loader{Now: fixedNow}
				id, err := l.LoadIdentity(ctx, paths...)
				if err != nil {
					t.Fatal(err)
				}
				checkIdentity(t, id, p, p.leaf, p.inter, p.root)

				// Same through the in-memory entry point and wrapped
				// in a vault.
				id, err = l.ParseIdentity(ctx, in.files...)
				if err != nil {
					t.Fatal(err)
				}
				checkIdentity(t, id, p, p.leaf, p.inter, p.root)

				vl := &Loader{Now: fixedNow, VaultPassword: PasswordString("vault secret")}
				var vaulted [][]byte
				for _, f := range in.files {
					vaulted = append(vaulted, encryptVault(t, f, "vault secret"))
				}
				id, err = vl.ParseIdentity(ctx, vaulted...)
				if err != nil {
					t.Fatal(err)
				}
				checkIdentity(t, id, p, p.leaf, p.inter, p.root)
			})
		}
	}
}

func TestLoadPKCS12(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"ecdsa", "rsa"} {
		p := newPKI(t, kind, certOpts{})
		tests := []struct {
			name  string
			extra []string
			chain []*x509.Certificate
			want  []*x509.Certificate
		}{
			{"OpenSSL 3 default (AES, SHA-256 MAC)", nil, []*x509.Certificate{p.inter, p.root}, []*x509.Certificate{p.leaf, p.inter, p.root}},
			{"legacy 3DES, SHA-1 MAC", legacyPKCS12, []*x509.Certificate{p.inter, p.root}, []*x509.Certificate{p.leaf, p.inter, p.root}},
			{"chain listed root first", nil, []*x509.Certificate{p.root, p.inter}, []*x509.Certificate{p.leaf, p.inter, p.root}},
			{"leaf only", nil, nil, []*x509.Certificate{p.leaf}},
		}
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				p12 := exportPKCS12(t, p.leafKey, p.leaf, tt.chain, "p12 secret", tt.extra...)
				if f := Sniff(p12); f != FormatPKCS12 {
					t.Fatalf("Sniff = %v", f)
				}
				dir := t.TempDir()
				path := writeFile(t, dir, "id.p12", p12)
				l := &Loader{Now: fixedNow, Password: PasswordString("p12 secret")}
				id, err := l.LoadIdentity(ctx, path)
				if err != nil {
					t.Fatal(err)
				}
				checkIdentity(t, id, p, tt.want...)

				// A PKCS#12 file inside a vault, passwords from a
				// file and from the environment.
				vpath := writeFile(t, dir, "id.p12.vault", encryptVault(t, p12, "vault secret"))
				t.Setenv("TEST_P12_PASSWORD", "p12 secret")
				vl := &Loader{
					Now:           fixedNow,
					Password:      PasswordEnv("TEST_P12_PASSWORD"),
					VaultPassword: PasswordFile(writeFile(t, dir, "vault-pass", []byte("vault secret\n"))),
				}
				cert, err := vl.LoadTLSCertificate(ctx, vpath)
				if err != nil {
					t.Fatal(err)
				}
				if len(cert.Certificate) != len(tt.want) || !cert.Leaf.Equal(p.leaf) {
					t.Fatalf("tls.Certificate has %d certificates, leaf %v", len(cert.Certificate), cert.Leaf.Subject)
				}

				_, err = (&Loader{Now: fixedNow, Password: PasswordString("wrong")}).LoadIdentity(ctx, path)
				if !errors.Is(err, ErrWrongPassword) {
					t.Fatalf("wrong password: %v, want ErrWrongPassword", err)
				}
				var fe *FileError
				if !errors.As(err, &fe) || fe.Path != path {
					t.Errorf("error %v does not name the file", err)
				}
			})
		}
	}
}

func TestLoadErrors(t *testing.T) {
	ctx := context.Background()
	p := newPKI(t, "ecdsa", certOpts{})
	other := newPKI(t, "ecdsa", certOpts{})
	expired := newPKI(t, "ecdsa", certOpts{notBefore: now.Add(-48 * time.Hour), notAfter: now.Add(-time.Hour)})
	future := newPKI(t, "ecdsa", certOpts{notBefore: now.Add(time.Hour)})
	keyP := keyPEM(t, "PRIVATE KEY", pkcs8DER(t, p.leafKey))
	chain := certPEM(p.leaf, p.inter, p.root)
	vaulted := encryptVault(t, append(append([]byte{}, keyP...), chain...), "right")

	big := bytes.Repeat([]byte("A"), MaxFileSize+1)
	legacyEncrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"},
		Bytes:   []byte{1, 2, 3}})

	tests := []struct {
		name    string
		loader  Loader
		files   map[string][]byte // written to dir; a nil value means "do not create"
		paths   []string
		want    []error
		wantErr string // substring of the message
	}{
		{name: "missing file", paths: []string{"nope.pem"}, want: []error{ErrUnreadable, fs.ErrNotExist}},
		{name: "directory", paths: []string{"."}, want: []error{ErrUnreadable}},
		{name: "too large", files: map[string][]byte{"big": big}, paths: []string{"big"}, want: []error{ErrUnreadable}, wantErr: "larger than"},
		{name: "no paths", want: []error{ErrNoKey}},
		{name: "unknown format", files: map[string][]byte{"x": []byte("hello, world")}, paths: []string{"x"}, want: []error{ErrUnknownFormat}},
		{name: "empty file", files: map[string][]byte{"x": nil}, paths: []string{"x"}, want: []error{ErrUnknownFormat}},
		{name: "PEM with nothing usable", files: map[string][]byte{"x": pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: []byte{0}})}, paths: []string{"x"}, want: []error{ErrMalformed}},
		{name: "bad certificate in PEM", files: map[string][]byte{"x": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0}})}, paths: []string{"x"}, want: []error{ErrMalformed}},
		{name: "bad key in PEM", files: map[string][]byte{"x": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0}})}, paths: []string{"x"}, want: []error{ErrMalformed}},
		{name: "legacy encrypted PEM key", files: map[string][]byte{"x": legacyEncrypted}, paths: []string{"x"}, want: []error{ErrEncryptedKey}},
		{name: "PKCS#8 encrypted PEM key", files: map[string][]byte{"x": pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0}})}, paths: []string{"x"}, want: []error{ErrEncryptedKey}},
		{name: "certificates only", files: map[string][]byte{"c": chain}, paths: []string{"c"}, want: []error{ErrNoKey}},
		{name: "key only", files: map[string][]byte{"k": keyP}, paths: []string{"k"}, want: []error{ErrNoCertificate}},
		{name: "two keys", files: map[string][]byte{"k": keyP, "k2": keyPEM(t, "PRIVATE KEY", pkcs8DER(t, other.leafKey)), "c": chain}, paths: []string{"k", "k2", "c"}, want: []error{ErrMultipleKeys}},
		{name: "key of another certificate", files: map[string][]byte{"k": keyPEM(t, "PRIVATE KEY", pkcs8DER(t, other.leafKey)), "c": chain}, paths: []string{"k", "c"}, want: []error{ErrKeyMismatch}, wantErr: "Example Leaf"},
		{name: "X25519 key cannot sign", files: map[string][]byte{"k": keyPEM(t, "PRIVATE KEY", x25519PKCS8(t)), "c": chain}, paths: []string{"k", "c"}, want: []error{ErrUnsupportedKey}},
		{name: "expired leaf", files: map[string][]byte{"k": keyPEM(t, "PRIVATE KEY", pkcs8DER(t, expired.leafKey)), "c": certPEM(expired.leaf, expired.inter)}, paths: []string{"k", "c"}, want: []error{ErrExpired}, wantErr: "expired at"},
		{name: "not yet valid", files: map[string][]byte{"k": keyPEM(t, "PRIVATE KEY", pkcs8DER(t, future.leafKey)), "c": certPEM(future.leaf)}, paths: []string{"k", "c"}, want: []error{ErrNotYetValid}, wantErr: "not valid before"},
		{name: "vault without password", files: map[string][]byte{"v": vaulted}, paths: []string{"v"}, want: []error{ErrNoVaultPassword}},
		{name: "vault, wrong password", loader: Loader{VaultPassword: PasswordString("wrong")}, files: map[string][]byte{"v": vaulted}, paths: []string{"v"}, want: []error{ErrWrongVaultPassword}},
		{name: "vault, empty password", loader: Loader{VaultPassword: PasswordString("")}, files: map[string][]byte{"v": vaulted}, paths: []string{"v"}, want: []error{ErrNoVaultPassword}},
		{name: "vault, environment variable unset", loader: Loader{VaultPassword: PasswordEnv("ENROLLKIT_TEST_UNSET_VARIABLE")}, files: map[string][]byte{"v": vaulted}, paths: []string{"v"}, want: []error{ErrNoVaultPassword, ErrNoPassword}, wantErr: "ENROLLKIT_TEST_UNSET_VARIABLE"},
		{name: "vault, password file missing", loader: Loader{VaultPassword: PasswordFile("no-such-password-file")}, files: map[string][]byte{"v": vaulted}, paths: []string{"v"}, want: []error{ErrNoVaultPassword, ErrUnreadable, fs.ErrNotExist}},
		{name: "vault, password source fails", loader: Loader{VaultPassword: PasswordFunc(func(context.Context) (string, error) { return "", errors.New("secret store down") })}, files: map[string][]byte{"v": vaulted}, paths: []string{"v"}, want: []error{ErrNoVaultPassword}, wantErr: "secret store down"},
		{name: "vault, unknown version", loader: Loader{VaultPassword: PasswordString("right")}, files: map[string][]byte{"v": bytes.Replace(vaulted, []byte(";1.1;"), []byte(";2.0;"), 1)}, paths: []string{"v"}, want: []error{ErrMalformed}},
		{name: "vault, body not hex", loader: Loader{VaultPassword: PasswordString("right")}, files: map[string][]byte{"v": []byte("$ANSIBLE_VAULT;1.1;AES256\nzz\n")}, paths: []string{"v"}, want: []error{ErrMalformed}},
		{name: "vault, body truncated", loader: Loader{VaultPassword: PasswordString("right")}, files: map[string][]byte{"v": vaulted[:len(vaulted)/2]}, paths: []string{"v"}, want: []error{ErrMalformed}},
		{name: "vault, nothing inside", loader: Loader{VaultPassword: PasswordString("right")}, files: map[string][]byte{"v": encryptVault(t, []byte("just text"), "right")}, paths: []string{"v"}, want: []error{ErrUnknownFormat}, wantErr: "inside an Ansible Vault"},
		{name: "vault inside a vault", loader: Loader{VaultPassword: PasswordString("right")}, files: map[string][]byte{"v": encryptVault(t, vaulted, "right")}, paths: []string{"v"}, want: []error{ErrMalformed}},
		{name: "PKCS#12 password source fails", loader: Loader{Password: PasswordEnv("ENROLLKIT_TEST_UNSET_VARIABLE")}, paths: []string{"p12"}, want: []error{ErrNoPassword}, wantErr: "ENROLLKIT_TEST_UNSET_VARIABLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := t.TempDir()
			for name, data := range tt.files {
				writeFile(t, sub, name, data)
			}
			if tt.name == "PKCS#12 password source fails" {
				writeFile(t, sub, "p12", exportPKCS12(t, p.leafKey, p.leaf, nil, "x"))
			}
			var paths []string
			for _, p := range tt.paths {
				paths = append(paths, filepath.Join(sub, p))
			}
			l := tt.loader
			l.Now = fixedNow
			_, err := l.LoadIdentity(ctx, paths...)
			if err == nil {
				t.Fatal("LoadIdentity succeeded, want an error")
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want it to match %v", err, w)
				}
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %q, want it to mention %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "credentials: ") || strings.Count(err.Error(), "credentials: ") > 1 {
				t.Errorf("error text %q: want exactly one package prefix", err)
			}
			if len(paths) > 0 && !errors.Is(err, ErrNoKey) && !errors.Is(err, ErrNoCertificate) &&
				!errors.Is(err, ErrKeyMismatch) && !errors.Is(err, ErrMultipleKeys) && !errors.Is(err, ErrUnsupportedKey) &&
				!errors.Is(err, ErrExpired) && !errors.Is(err, ErrNotYetValid) {
				var fe *FileError
				if !errors.As(err, &fe) {
					t.Errorf("error %v does not name its file", err)
				}
			}
		})
	}
}
