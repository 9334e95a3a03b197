package license

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
)

func TestParsePublicKeys(t *testing.T) {
	pub1, _ := mustKey(t)
	pub2, _ := mustKey(t)
	pem1, err := EncodePublicKeyPEM(pub1)
	if err != nil {
		t.Fatal(err)
	}
	pem2, err := EncodePublicKeyPEM(pub2)
	if err != nil {
		t.Fatal(err)
	}
	der1, err := x509.MarshalPKIXPublicKey(pub1)
	if err != nil {
		t.Fatal(err)
	}
	std1 := base64.StdEncoding.EncodeToString(pub1)
	rawStd1 := base64.RawStdEncoding.EncodeToString(pub1)
	url2 := base64.URLEncoding.EncodeToString(pub2)
	rawURL2 := base64.RawURLEncoding.EncodeToString(pub2)

	tests := []struct {
		name string
		in   string
		want []ed25519.PublicKey
	}{
		{"one PEM", string(pem1), []ed25519.PublicKey{pub1}},
		{"two PEM (rotation)", string(pem1) + string(pem2), []ed25519.PublicKey{pub1, pub2}},
		{"PEM with literal \\n", strings.ReplaceAll(string(pem1), "\n", `\n`), []ed25519.PublicKey{pub1}},
		{"base64 std padded", std1, []ed25519.PublicKey{pub1}},
		{"base64 std raw", rawStd1, []ed25519.PublicKey{pub1}},
		{"base64 url padded", url2, []ed25519.PublicKey{pub2}},
		{"base64 url raw", rawURL2, []ed25519.PublicKey{pub2}},
		{"base64 of DER SPKI", base64.StdEncoding.EncodeToString(der1), []ed25519.PublicKey{pub1}},
		{"comma separated", std1 + "," + rawURL2, []ed25519.PublicKey{pub1, pub2}},
		{"whitespace and newlines", "  " + std1 + "\n\t" + url2 + " \n", []ed25519.PublicKey{pub1, pub2}},
		{"mixed base64 then PEM", std1 + ",\n" + string(pem2), []ed25519.PublicKey{pub1, pub2}},
		{"mixed PEM then base64", string(pem2) + "\n" + std1, []ed25519.PublicKey{pub2, pub1}},
		{"duplicates dropped", std1 + "," + string(pem1), []ed25519.PublicKey{pub1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePublicKeys(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d keys, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if !got[i].Equal(tc.want[i]) {
					t.Fatalf("key %d differs", i)
				}
			}
		})
	}
}

func TestParsePublicKeysErrors(t *testing.T) {
	pub, priv := mustKey(t)
	privPEM, err := EncodePrivateKeyPEM(priv)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaDER})
	good := base64.StdEncoding.EncodeToString(pub)

	tests := []struct {
		name, in, wantSub string
	}{
		{"empty", "", "no public key found"},
		{"only separators", " ,\n ", "no public key found"},
		{"not base64", "not*base64!", "public key 1: not valid base64"},
		{"wrong length", base64.StdEncoding.EncodeToString(make([]byte, 31)), "base64 decodes to 31 bytes"},
		{"second key bad", good + ",AAAA", "public key 2: base64 decodes to 3 bytes"},
		{"private key PEM", string(privPEM), `PEM block is "PRIVATE KEY", want "PUBLIC KEY"`},
		{"RSA public key", string(rsaPEM), "want Ed25519"},
		{"truncated PEM", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA", "malformed PEM block"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePublicKeys(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.wantSub) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantSub)
			}
		})
	}
}

func TestWriteKeyPairRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	pubPath, privPath, err := WriteKeyPair(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(pubPath) != "license_public.pem" || filepath.Base(privPath) != "license_private.pem" {
		t.Fatalf("paths %s %s", pubPath, privPath)
	}
	for path, mode := range map[string]os.FileMode{pubPath: 0o644, privPath: 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), mode)
		}
	}

	priv, err := LoadPrivateKey(privPath)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := os.ReadFile(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParsePublicKeys(string(pubPEM))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || !keys[0].Equal(priv.Public()) {
		t.Fatal("public key file does not match private key file")
	}
	tok, err := Issue(priv, "acme", semvec.TierEnterprise, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewVerifier(keys).Verify(tok)
	if err != nil || c.Subject != "acme" || c.Tier != semvec.TierEnterprise {
		t.Fatalf("verify: %+v %v", c, err)
	}

	// A second call must refuse and leave the files untouched.
	if _, _, err := WriteKeyPair(dir); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second WriteKeyPair: %v, want fs.ErrExist", err)
	}
	again, err := LoadPrivateKey(privPath)
	if err != nil || !again.Equal(priv) {
		t.Fatal("private key was overwritten")
	}
}

func TestWriteKeyPairRefusesIfEitherExists(t *testing.T) {
	for _, name := range []string{PublicKeyFile, PrivateKeyFile} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, name), []byte("keep"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, _, err := WriteKeyPair(dir); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("got %v, want fs.ErrExist", err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Fatalf("WriteKeyPair left %d files, want only the pre-existing one", len(entries))
			}
		})
	}
}

func TestLoadPrivateKeyErrors(t *testing.T) {
	dir := t.TempDir()
	pub, _ := mustKey(t)
	pubPEM, err := EncodePublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"nopem":  []byte("hello"),
		"public": pubPEM,
		"badder": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadPrivateKey(p); err == nil {
			t.Errorf("%s: want error", name)
		}
	}
	if _, err := LoadPrivateKey(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestEncodeRejectsWrongSizes(t *testing.T) {
	if _, err := EncodePublicKeyPEM(make([]byte, 5)); err == nil {
		t.Error("public: want error")
	}
	if _, err := EncodePrivateKeyPEM(make([]byte, 5)); err == nil {
		t.Error("private: want error")
	}
}
