package main

import (
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/semvec-go/semvec/cmd/semvec/server"
)

// Every command and subcommand answers --help with its usage and exit code 0.
func TestEveryCommandHasHelp(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--help"}, {"healthcheck", "--help"}, {"license", "--help"}, {"license", "-h"},
		{"license", "issue", "--help"}, {"license", "keygen", "--help"},
	} {
		_, stderr, err := runCmd(args...)
		if !errors.Is(err, flag.ErrHelp) || exitCode(err) != 0 || !strings.Contains(stderr, "Usage: semvec") {
			t.Errorf("%v: err %v, usage %q", args, err, stderr)
		}
	}
	if _, _, err := runCmd("license", "frobnicate"); err == nil || errors.Is(err, flag.ErrHelp) {
		t.Errorf("unknown license subcommand: %v", err)
	}
}

// Without a configured licence key (development mode), or in anonymous
// mode even with one, serve listens on loopback unless --host says
// otherwise; with a key it keeps listening on every interface.
func TestServeHostDefault(t *testing.T) {
	for _, c := range []struct {
		cfg  server.Config
		flag string
		want string
	}{
		{server.Config{}, "", "127.0.0.1"},
		{server.Config{Anonymous: true}, "", "127.0.0.1"},
		{server.Config{}, "0.0.0.0", "0.0.0.0"},
		{server.Config{PublicKeys: "k"}, "", "0.0.0.0"},
		{server.Config{PublicKeyFile: "/keys/k.pem"}, "", "0.0.0.0"},
		{server.Config{PublicKeyFile: "/keys/k.pem"}, "127.0.0.1", "127.0.0.1"},
		{server.Config{PublicKeyFile: "/keys/k.pem", Anonymous: true}, "", "127.0.0.1"}, // no auth: loopback whatever the key
		{server.Config{PublicKeys: "k", Anonymous: true}, "0.0.0.0", "0.0.0.0"},
	} {
		if got := serveHost(c.cfg, c.flag); got != c.want {
			t.Errorf("serveHost(%+v, %q) = %q, want %q", c.cfg, c.flag, got, c.want)
		}
	}
}
