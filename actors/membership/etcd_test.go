package membership

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semvec-go/semvec/actors/membership/etcdtest"
)

// The package's tests share one real etcd (Debian's etcd-server), started
// by TestMain on free loopback ports with a temporary data dir. Without
// the etcd binary every test that needs it is skipped.

var testEtcd *etcdtest.Etcd

func TestMain(m *testing.M) {
	code := func() int {
		bin, err := exec.LookPath("etcd")
		if err != nil {
			return m.Run() // needEtcd skips
		}
		e, err := etcdtest.Start(bin, "semvec-membership-etcd-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "membership tests: cannot start etcd:", err)
			return 1
		}
		testEtcd = e
		defer e.Close()
		code := m.Run()
		if code != 0 {
			log, _ := os.ReadFile(filepath.Join(e.Dir, "etcd.log"))
			fmt.Fprintf(os.Stderr, "etcd's log:\n%s", log)
		}
		return code
	}()
	os.Exit(code)
}

// needEtcd skips t without an etcd binary and returns the shared one.
func needEtcd(t *testing.T) *etcdtest.Etcd {
	t.Helper()
	if testEtcd == nil {
		t.Skip("etcd binary not found: apt-get install -y etcd-server (.ci/run does)")
	}
	return testEtcd
}

var clusterSeq atomic.Int64

// clusterName gives each test (and round) its own key space in the
// shared etcd.
func clusterName(t *testing.T) string {
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return fmt.Sprintf("%s-%d", name, clusterSeq.Add(1))
}

// eventually polls cond every 20 ms until it holds or d passed, and
// reports how long it took.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}
