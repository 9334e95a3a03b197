package client_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/semvec-go/semvec/cmd/semvec/server"
)

// serverURL is a real semvec-go server, started in-process on a free port
// for the examples and tests of this package: anonymous mode, a SQLite
// database in a temporary directory, the built-in embedder.
var serverURL string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "semvec-client-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	env := map[string]string{
		"DATABASE_URL":           "sqlite:///" + filepath.Join(dir, "semvec.db"),
		"SEMVEC_ALLOW_ANONYMOUS": "1",
		"SEMVEC_LOG_LEVEL":       "error",
	}
	getenv := func(k string) string { return env[k] }
	cfg, err := server.LoadConfig(getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg.Host, cfg.Port = "127.0.0.1", "0"
	srv, err := server.Start(context.Background(), cfg, getenv, io.Discard, io.Discard)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	serverURL = srv.URL()
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "shutdown:", err)
		return 1
	}
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, "goroutines left running:", err)
		return 1
	}
	return code
}
