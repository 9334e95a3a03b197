// Command semvec is the semvec-go server and its licence tooling.
//
//	semvec serve [--host HOST] [--port 8080]
//	semvec license keygen [--dir .]
//	semvec license issue --key FILE --sub SUBJECT [--tier community|pro|enterprise] [--ttl 720h]
//	semvec healthcheck [--url URL]
//	semvec mcp [--url URL] [--token TOKEN]
//	semvec version
//
// Configuration comes from the environment; see README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/cmd/semvec/server"
	"github.com/semvec-go/semvec/http/license"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "semvec:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitCode is 0 for --help, 3 when the node dropped out of its cluster
// (the supervisor should restart it), 1 otherwise.
func exitCode(err error) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, server.ErrMembershipLost):
		return 3
	}
	return 1
}

const usage = `semvec-go: constant-cost semantic memory for LLM agents (semvec-compatible REST API)

Usage:
  semvec serve [--host HOST] [--port PORT]     start the server (configuration from the environment)
  semvec license keygen [--dir DIR]            write an Ed25519 key pair as PEM files
  semvec license issue --key FILE --sub SUBJECT [--tier TIER] [--ttl DURATION]
                                               print a signed licence token
  semvec healthcheck [--url URL]               exit 0 when the server's /v1/readyz answers 200 (for containers)
  semvec mcp [--url URL] [--token TOKEN]       serve the MCP tools over stdio, calling the server at URL
                                               (URL also from SEMVEC_URL, token from SEMVEC_TOKEN)
  semvec version                               print the version

Run "semvec <command> --help" for the flags of a command.
`

// run is main without the process: tests call it with their own arguments,
// environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], getenv, stdout, stderr)
	case "license", "licence":
		return cmdLicense(args[1:], stdout, stderr)
	case "healthcheck":
		return cmdHealthcheck(ctx, args[1:], stderr)
	case "mcp":
		return cmdMCP(ctx, args[1:], getenv, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "semvec-go", semvec.Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host := fs.String("host", "", "address to listen on (default 127.0.0.1 in development mode, when no licence key is configured, and in anonymous mode; 0.0.0.0 otherwise)")
	port := fs.String("port", "8080", "port to listen on (0 picks a free one)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: semvec serve [--host HOST] [--port PORT]\n\nStarts the server. Configuration comes from the environment (see README.md).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := server.LoadConfig(getenv)
	if err != nil {
		return err
	}
	cfg.Host, cfg.Port = serveHost(cfg, *host), *port
	srv, err := server.Start(ctx, cfg, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	var lost bool
	select {
	case <-ctx.Done():
	case <-srv.Lost(): // nil, never ready, in single-node mode
		lost = true
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if lost {
		return errors.Join(server.ErrMembershipLost, err)
	}
	return err
}

// serveHost is the address serve listens on: --host when given; else
// loopback when no licence key is configured (development mode with its
// generated key pair, or anonymous mode), so a development server is not
// reachable from the network by accident; else every interface, as before.
func serveHost(cfg server.Config, flagHost string) string {
	if flagHost != "" {
		return flagHost
	}
	if cfg.Anonymous || cfg.PublicKeys == "" && cfg.PublicKeyFile == "" {
		return "127.0.0.1" // anonymous mode serves without auth: loopback even with a key configured
	}
	return "0.0.0.0"
}

const licenseUsage = `Usage: semvec license keygen|issue [flags]

  semvec license keygen [--dir DIR]     write an Ed25519 key pair as PEM files
  semvec license issue --key FILE --sub SUBJECT [--tier TIER] [--ttl DURATION]
                                        print a signed licence token

Run "semvec license <subcommand> --help" for its flags.
`

func cmdLicense(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, licenseUsage)
		return errors.New("missing license subcommand")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, licenseUsage)
		return flag.ErrHelp
	case "keygen":
		fs := flag.NewFlagSet("license keygen", flag.ContinueOnError)
		fs.SetOutput(stderr)
		dir := fs.String("dir", ".", "directory for license_public.pem and license_private.pem")
		fs.Usage = func() {
			fmt.Fprint(stderr, "Usage: semvec license keygen [--dir DIR]\n\nWrites a new Ed25519 key pair (never overwrites).\n\n")
			fs.PrintDefaults()
		}
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		pub, priv, err := license.WriteKeyPair(*dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "public key:  %s  (give the server SEMVEC_LICENSE_PUBLIC_KEY_FILE=%s)\nprivate key: %s  (keep it secret; sign tokens with semvec license issue --key %s)\n", pub, pub, priv, priv)
		return nil
	case "issue":
		fs := flag.NewFlagSet("license issue", flag.ContinueOnError)
		fs.SetOutput(stderr)
		key := fs.String("key", "", "private key PEM file (from semvec license keygen)")
		sub := fs.String("sub", "", "subject: the tenant that will own the resources")
		tier := fs.String("tier", "community", "community, pro or enterprise")
		ttl := fs.Duration("ttl", 30*24*time.Hour, "validity, e.g. 720h")
		fs.Usage = func() {
			fmt.Fprint(stderr, "Usage: semvec license issue --key FILE --sub SUBJECT [--tier TIER] [--ttl DURATION]\n\nPrints a signed EdDSA licence token.\n\n")
			fs.PrintDefaults()
		}
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *key == "" || *sub == "" {
			fs.Usage()
			return errors.New("--key and --sub are required")
		}
		t, err := semvec.ParseTier(*tier)
		if err != nil {
			return err
		}
		priv, err := license.LoadPrivateKey(*key)
		if err != nil {
			return err
		}
		tok, err := license.Issue(priv, *sub, t, *ttl, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, tok)
		return nil
	}
	fmt.Fprint(stderr, licenseUsage)
	return fmt.Errorf("unknown license subcommand %q (want keygen or issue)", args[0])
}

func cmdHealthcheck(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080/v1/readyz", "readiness URL to probe (a base URL such as http://127.0.0.1:8080 probes its /v1/readyz)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: semvec healthcheck [--url URL]\n\nExits 0 when URL answers 200 within 3 s, 1 otherwise (a container healthcheck).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, readyzURL(*url), nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s from %s", res.Status, req.URL)
	}
	return nil
}

// readyzURL is the URL healthcheck probes: u itself, or u's /v1/readyz when
// u is a base URL (no path, or only "/"), as `semvec mcp --url` takes one.
func readyzURL(u string) string {
	u = strings.TrimSpace(u)
	p, err := neturl.Parse(u)
	if err != nil || (p.Path != "" && p.Path != "/") || p.RawQuery != "" {
		return u
	}
	p.Path = "/v1/readyz"
	return p.String()
}
