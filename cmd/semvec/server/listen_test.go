package server

import (
	"context"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
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
