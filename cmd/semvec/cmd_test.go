package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/http/license"
)

func runCmd(args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, &out, &errb)
	return out.String(), errb.String(), err
}

func TestCommands(t *testing.T) {
	out, _, err := runCmd("version")
	if err != nil || !strings.Contains(out, semvec.Version) {
		t.Fatalf("version: %q %v", out, err)
	}
	for _, args := range [][]string{{"serve", "--help"}, {"license", "issue", "--help"}, {"license", "keygen", "--help"}} {
		_, stderr, err := runCmd(args...)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr, "Usage: semvec") {
			t.Fatalf("%v: err %v, usage %q", args, err, stderr)
		}
	}
	if _, _, err := runCmd("frobnicate"); err == nil {
		t.Fatal("unknown command accepted")
	}

	dir := t.TempDir()
	if out, _, err = runCmd("license", "keygen", "--dir", dir); err != nil || !strings.Contains(out, "license_public.pem") {
		t.Fatalf("keygen: %q %v", out, err)
	}
	if _, _, err = runCmd("license", "keygen", "--dir", dir); err == nil {
		t.Fatal("keygen overwrote an existing key pair")
	}
	out, _, err = runCmd("license", "issue", "--key", filepath.Join(dir, "license_private.pem"), "--sub", "acme", "--tier", "Enterprise", "--ttl", "1h")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "license_public.pem"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := license.ParsePublicKeys(string(pub))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := license.NewVerifier(keys).Verify(strings.TrimSpace(out))
	if err != nil || claims.Subject != "acme" || claims.Tier != semvec.TierEnterprise {
		t.Fatalf("issued token: %+v %v", claims, err)
	}
	if _, _, err = runCmd("license", "issue", "--key", filepath.Join(dir, "license_private.pem"), "--sub", "acme", "--tier", "gold"); err == nil {
		t.Fatal("unknown tier accepted")
	}
}

func TestBadConfigurationNamesTheVariable(t *testing.T) {
	for name, value := range map[string]string{
		"DATABASE_URL":              "mysql://x",
		"SEMVEC_ASK_TIMEOUT":        "soon",
		"SEMVEC_MAX_SESSIONS":       "-3",
		"SEMVEC_ALLOW_ANONYMOUS":    "maybe",
		"SEMVEC_LOG_LEVEL":          "chatty",
		"SEMVEC_SESSION_IDLE_TTL_S": "0",
		"CORS_ORIGINS":              "example.com",
		"SEMVEC_EMBEDDER_DIM":       "abc",
		"SEMVEC_LICENSE_PUBLIC_KEY": "not a key",
	} {
		env := map[string]string{name: value, "DATABASE_URL": "sqlite:///" + t.TempDir() + "/x.db"}
		if name == "DATABASE_URL" {
			env[name] = value
		}
		var stderr bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // a server that did start stops at once
		err := run(ctx, []string{"serve", "--host", "127.0.0.1", "--port", "0"}, func(k string) string { return env[k] }, io.Discard, &stderr)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: error %v does not name the variable", name, value, err)
		}
	}
}

func TestDevelopmentModeFirstRun(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": "sqlite:///" + dir + "/dev.db", "SEMVEC_DEV_DIR": dir + "/dev", "SEMVEC_LOG_LEVEL": "error"}
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port = "127.0.0.1", "0"
	var out bytes.Buffer
	srv, err := start(context.Background(), cfg, func(k string) string { return env[k] }, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	banner := out.String()
	tok, err := os.ReadFile(dir + "/dev/token")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(banner, strings.TrimSpace(string(tok))) || !strings.Contains(banner, "curl -s http://127.0.0.1:") {
		t.Fatalf("banner does not tell how to call the server:\n%s", banner)
	}
	e := &testEnv{t: t, base: "http://" + srv.addr.String()}
	want(t, e.do("POST", "/v1/run", map[string]any{"message": "hi"}), 401) // auth is enforced
	r := e.as(strings.TrimSpace(string(tok)), "POST", "/v1/run", map[string]any{"message": "hi"})
	want(t, r, 200)
	if err := run(context.Background(), []string{"healthcheck", "--url", e.base + "/v1/readyz"}, os.Getenv, io.Discard, io.Discard); err != nil {
		t.Fatalf("healthcheck against a ready server: %v", err)
	}
}
