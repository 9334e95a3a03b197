package license

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// File names used by WriteKeyPair.
const (
	PublicKeyFile  = "license_public.pem"
	PrivateKeyFile = "license_private.pem"
)

// GenerateKey returns a fresh Ed25519 key pair for signing licence tokens.
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("license: generate key: %w", err)
	}
	return pub, priv, nil
}

// EncodePublicKeyPEM encodes pub as a "PUBLIC KEY" PEM block (DER
// SubjectPublicKeyInfo), the format `openssl pkey -pubout` writes.
func EncodePublicKeyPEM(pub ed25519.PublicKey) ([]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("license: public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("license: encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// EncodePrivateKeyPEM encodes priv as a "PRIVATE KEY" PEM block (DER PKCS#8),
// the format `openssl genpkey -algorithm ed25519` writes.
func EncodePrivateKeyPEM(priv ed25519.PrivateKey) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("license: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("license: encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WriteKeyPair generates a key pair and writes it to dir as PublicKeyFile
// (mode 0644) and PrivateKeyFile (mode 0600). dir is created (0700) if it does
// not exist. It refuses to overwrite: if either file already exists nothing is
// written and the error wraps fs.ErrExist.
func WriteKeyPair(dir string) (pubPath, privPath string, err error) {
	pubPath = filepath.Join(dir, PublicKeyFile)
	privPath = filepath.Join(dir, PrivateKeyFile)
	for _, p := range []string{pubPath, privPath} {
		if _, statErr := os.Lstat(p); statErr == nil {
			return "", "", fmt.Errorf("license: refusing to overwrite %s: %w", p, fs.ErrExist)
		} else if !errors.Is(statErr, fs.ErrNotExist) {
			return "", "", fmt.Errorf("license: %w", statErr)
		}
	}
	pub, priv, err := GenerateKey()
	if err != nil {
		return "", "", err
	}
	pubPEM, err := EncodePublicKeyPEM(pub)
	if err != nil {
		return "", "", err
	}
	privPEM, err := EncodePrivateKeyPEM(priv)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("license: %w", err)
	}
	// Private key first: if it cannot be written, no orphan public key is left.
	if err := writeNewFile(privPath, privPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := writeNewFile(pubPath, pubPEM, 0o644); err != nil {
		_ = os.Remove(privPath)
		return "", "", err
	}
	return pubPath, privPath, nil
}

// writeNewFile creates path exclusively (O_EXCL, so a file that appeared after
// the existence check is not clobbered), sets mode exactly (ignoring the
// umask) and syncs it.
func writeNewFile(path string, data []byte, mode os.FileMode) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("license: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("license: %w", cerr)
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("license: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("license: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("license: %w", err)
	}
	return nil
}

// LoadPrivateKey reads an Ed25519 private key from a PEM file holding a
// "PRIVATE KEY" (PKCS#8) block, as written by WriteKeyPair or
// `openssl genpkey -algorithm ed25519`.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("license: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("license: %s: no PEM block found", path)
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("license: %s: PEM block is %q, want \"PRIVATE KEY\" (PKCS#8)", path, block.Type)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("license: %s: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("license: %s: key is %T, want Ed25519", path, key)
	}
	return priv, nil
}

// ParsePublicKeys reads one or more Ed25519 public keys from s. s may hold any
// mix of
//
//   - "PUBLIC KEY" PEM blocks (DER SubjectPublicKeyInfo), and
//   - base64 tokens (standard or URL alphabet, padded or not) of either the raw
//     32-byte key or its DER SubjectPublicKeyInfo,
//
// separated by commas, whitespace or newlines. A literal two-character "\n"
// (as left by some env-file tools) is treated as a newline. More than one key
// means key rotation: a token signed by any of them is accepted. Duplicates are
// dropped. An input without any key is an error.
func ParsePublicKeys(s string) ([]ed25519.PublicKey, error) {
	if strings.Contains(s, `\n`) {
		s = strings.ReplaceAll(s, `\n`, "\n")
	}
	var keys []ed25519.PublicKey
	add := func(k ed25519.PublicKey) {
		for _, have := range keys {
			if have.Equal(k) {
				return
			}
		}
		keys = append(keys, k)
	}
	n := 0 // 1-based position of the key being parsed, for error messages
	rest := s
	for {
		idx := strings.Index(rest, "-----BEGIN")
		plain := rest
		if idx >= 0 {
			plain = rest[:idx]
		}
		for _, tok := range strings.FieldsFunc(plain, isKeySeparator) {
			n++
			k, err := parseBase64Key(tok)
			if err != nil {
				return nil, fmt.Errorf("license: public key %d: %w", n, err)
			}
			add(k)
		}
		if idx < 0 {
			break
		}
		n++
		block, after := pem.Decode([]byte(rest[idx:]))
		if block == nil {
			return nil, fmt.Errorf("license: public key %d: malformed PEM block", n)
		}
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("license: public key %d: PEM block is %q, want \"PUBLIC KEY\"", n, block.Type)
		}
		k, err := parseSPKI(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("license: public key %d: %w", n, err)
		}
		add(k)
		rest = string(after)
	}
	if len(keys) == 0 {
		return nil, errors.New("license: no public key found (want PEM \"PUBLIC KEY\" blocks or base64 Ed25519 keys)")
	}
	return keys, nil
}

func isKeySeparator(r rune) bool {
	switch r {
	case ',', ';', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// parseBase64Key decodes a base64 token in any of the four common variants.
func parseBase64Key(tok string) (ed25519.PublicKey, error) {
	norm := strings.TrimRight(tok, "=")
	norm = strings.NewReplacer("-", "+", "_", "/").Replace(norm)
	raw, err := base64.RawStdEncoding.DecodeString(norm)
	if err != nil {
		return nil, fmt.Errorf("not valid base64 (%q…): %w", abbreviate(tok), err)
	}
	if len(raw) == ed25519.PublicKeySize {
		return ed25519.PublicKey(raw), nil
	}
	k, err := parseSPKI(raw)
	if err != nil {
		return nil, fmt.Errorf("base64 decodes to %d bytes: want a raw %d-byte Ed25519 key or DER SubjectPublicKeyInfo",
			len(raw), ed25519.PublicKeySize)
	}
	return k, nil
}

func parseSPKI(der []byte) (ed25519.PublicKey, error) {
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse SubjectPublicKeyInfo: %w", err)
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want Ed25519", key)
	}
	return pub, nil
}

func abbreviate(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
