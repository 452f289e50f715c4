package credentials

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	vault "github.com/sosedoff/ansible-vault-go"
	"software.sslmate.com/src/go-pkcs12"
)

// contents is what one input holds.
type contents struct {
	keys   []crypto.PrivateKey
	certs  []*x509.Certificate
	format Format
}

// decode reads every key and certificate in data, opening vaults and
// PKCS#12 files with the Loader's passwords.
func (l *Loader) decode(ctx context.Context, data []byte) (contents, error) {
	return l.decodeDepth(ctx, data, 0)
}

func (l *Loader) decodeDepth(ctx context.Context, data []byte, depth int) (contents, error) {
	f := Sniff(data)
	var c contents
	var err error
	switch f {
	case FormatVault:
		if depth > 0 {
			return c, fmt.Errorf("%w: a vault inside a vault", ErrMalformed)
		}
		plain, err := l.openVault(ctx, data)
		if err != nil {
			return c, err
		}
		c, err = l.decodeDepth(ctx, plain, depth+1)
		if err != nil {
			return c, fmt.Errorf("%w (inside an Ansible Vault)", err)
		}
		return c, nil
	case FormatPEM:
		c, err = decodePEM(data)
	case FormatPKCS12:
		c, err = l.decodePKCS12(ctx, data)
	case FormatDERCertificate:
		c.certs, err = x509.ParseCertificates(trimLeading(data))
	case FormatPKCS8, FormatPKCS1, FormatSEC1:
		var k crypto.PrivateKey
		k, err = parseDERKey(trimLeading(data))
		c.keys = append(c.keys, k)
	default:
		return c, ErrUnknownFormat
	}
	if err != nil {
		return contents{}, err
	}
	c.format = f
	return c, nil
}

func parseDERKey(der []byte) (crypto.PrivateKey, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParseECPrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: private key is not PKCS#8, PKCS#1 or SEC 1", ErrMalformed)
	}
	return k, nil
}

func decodePEM(data []byte) (contents, error) {
	var c contents
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if _, encrypted := block.Headers["DEK-Info"]; encrypted || block.Type == "ENCRYPTED PRIVATE KEY" {
			return contents{}, fmt.Errorf("%w (PEM block %d)", ErrEncryptedKey, n)
		}
		switch block.Type {
		case "CERTIFICATE", "X509 CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return contents{}, fmt.Errorf("%w: PEM block %d: %w", ErrMalformed, n, err)
			}
			c.certs = append(c.certs, cert)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			// The label is not trusted: tools write PKCS#1 and SEC 1
			// bodies under "PRIVATE KEY" too.
			k, err := parseDERKey(block.Bytes)
			if err != nil {
				return contents{}, fmt.Errorf("%w (PEM block %d)", err, n)
			}
			c.keys = append(c.keys, k)
		default:
			// EC PARAMETERS, CERTIFICATE REQUEST, X509 CRL and the like
			// carry nothing this package loads.
		}
	}
	if len(c.keys) == 0 && len(c.certs) == 0 {
		return c, fmt.Errorf("%w: no private key or certificate PEM block", ErrMalformed)
	}
	return c, nil
}

func (l *Loader) decodePKCS12(ctx context.Context, data []byte) (contents, error) {
	password := ""
	if l.Password != nil {
		var err error
		if password, err = l.Password.Password(ctx); err != nil {
			return contents{}, chain(ErrNoPassword, err)
		}
	}
	key, leaf, cas, err := pkcs12.DecodeChain(trimLeading(data), password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption) {
			return contents{}, ErrWrongPassword
		}
		return contents{}, fmt.Errorf("%w: PKCS#12: %w", ErrMalformed, err)
	}
	return contents{keys: []crypto.PrivateKey{key}, certs: append([]*x509.Certificate{leaf}, cas...)}, nil
}

const vaultHeader11 = "$ANSIBLE_VAULT;1.1;AES256"

// openVault decrypts an Ansible Vault file (format 1.1, or 1.2 with a vault
// ID label, whose cipher is the same).
func (l *Loader) openVault(ctx context.Context, data []byte) ([]byte, error) {
	text := string(trimLeading(data))
	header, body, _ := strings.Cut(text, "\n")
	header = strings.TrimSpace(header)
	parts := strings.Split(header, ";")
	if len(parts) < 3 || (parts[1] != "1.1" && parts[1] != "1.2") || parts[2] != "AES256" {
		return nil, fmt.Errorf("%w: unsupported Ansible Vault header %q", ErrMalformed, header)
	}
	if err := checkVaultBody(body); err != nil {
		return nil, err
	}
	if l.VaultPassword == nil {
		return nil, ErrNoVaultPassword
	}
	password, err := l.VaultPassword.Password(ctx)
	if err != nil {
		return nil, chain(ErrNoVaultPassword, err)
	}
	if password == "" {
		return nil, fmt.Errorf("%w: the password source gave an empty password", ErrNoVaultPassword)
	}
	plain, err := vault.Decrypt(vaultHeader11+"\n"+body, password)
	if err != nil {
		// checkVaultBody has vouched for the structure, so a failure here
		// is the HMAC (a wrong password) or, after a good HMAC, the
		// padding (a vault written wrongly).
		if errors.Is(err, vault.ErrInvalidPadding) {
			return nil, fmt.Errorf("%w: Ansible Vault padding", ErrMalformed)
		}
		return nil, ErrWrongVaultPassword
	}
	return []byte(plain), nil
}

// checkVaultBody validates the structure the vault library decodes, so that
// its errors after this point can only be about the password: hex of
// "hexsalt\nhexhmac\nhexciphertext".
func checkVaultBody(body string) error {
	body = strings.NewReplacer("\r", "", "\n", "").Replace(strings.TrimSpace(body))
	inner, err := hex.DecodeString(body)
	if err != nil {
		return fmt.Errorf("%w: Ansible Vault body is not hex", ErrMalformed)
	}
	fields := bytes.SplitN(inner, []byte("\n"), 3)
	if len(fields) != 3 {
		return fmt.Errorf("%w: Ansible Vault body lacks salt, HMAC or data", ErrMalformed)
	}
	sizes := [3]int{}
	for i, f := range fields {
		b, err := hex.DecodeString(string(f))
		if err != nil {
			return fmt.Errorf("%w: Ansible Vault field %d is not hex", ErrMalformed, i+1)
		}
		sizes[i] = len(b)
	}
	if sizes[0] == 0 || sizes[1] != 32 || sizes[2] == 0 || sizes[2]%16 != 0 {
		return fmt.Errorf("%w: Ansible Vault salt, HMAC or data has the wrong size", ErrMalformed)
	}
	return nil
}
