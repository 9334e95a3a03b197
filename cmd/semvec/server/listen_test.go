package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// A server whose port is taken fails before it opens the database: a second
// `semvec serve` started by mistake on a running server's port and database
// must not activate anything there (it superseded the running server's
// observers, whose next sample was then not recorded).
func TestPortInUseFailsBeforeTheDatabaseIsOpened(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	dir := t.TempDir()
	db := dir + "/semvec.db"
	env := map[string]string{"DATABASE_URL": "sqlite:///" + db, "SEMVEC_DEV_DIR": dir + "/dev", "SEMVEC_LOG_LEVEL": "error"}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port = "127.0.0.1", strconv.Itoa(held.Addr().(*net.TCPAddr).Port)
	srv, err := Start(context.Background(), cfg, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil {
		srv.Shutdown(context.Background())
		t.Fatal("started on a port in use")
	}
	if !strings.Contains(err.Error(), "listen") || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %q does not say the port is in use", err)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("the database was opened before the port was taken (stat: %v)", err)
	}
}

// A server whose port is taken fails before it asks the embedding service
// anything: an openai embedder without SEMVEC_EMBEDDER_DIM learns its
// dimension with one embedding at start-up (up to 30 s when the service
// hangs, and a billed request), which ran before the port was taken, so a
// second server started by mistake on a running one's port waited for the
// service, and paid it, before it said the port was in use.
func TestPortInUseFailsBeforeTheEmbedderIsAsked(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	var asked atomic.Int32
	release := make(chan struct{})
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		select { // a service that hangs
		case <-release:
		case <-r.Context().Done():
		}
		http.Error(w, "gone", http.StatusServiceUnavailable)
	}))
	defer svc.Close()
	defer close(release)
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": "sqlite:///" + dir + "/semvec.db", "SEMVEC_ALLOW_ANONYMOUS": "1", "SEMVEC_LOG_LEVEL": "error",
		"SEMVEC_EMBEDDER_URL": svc.URL + "/v1", "SEMVEC_EMBEDDER_TIMEOUT": "3s"}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port = "127.0.0.1", strconv.Itoa(held.Addr().(*net.TCPAddr).Port)
	srv, err := Start(context.Background(), cfg, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil {
		srv.Shutdown(context.Background())
		t.Fatal("started on a port in use")
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %q does not say the port is in use", err)
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("the embedding service was asked %d times before the port was taken", n)
	}
}
