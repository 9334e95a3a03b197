//go:build linux

package clustertest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cpuTicks is the user + system CPU time of a process in clock ticks
// (/proc/<pid>/stat fields 14 and 15).
func cpuTicks(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: split after its ')'.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// clockTick is the kernel's USER_HZ, 100 on Linux.
const clockTick = 10 * time.Millisecond

// BenchmarkClusterTurns: durable /v1/run turns from 32 concurrent clients on
// 64 sessions, through one node or spread round-robin over three real
// nodes on this machine (as a balancer would), all on one PostgreSQL. It
// reports turns/s, the latency percentiles and the server CPU per turn
// (all nodes together, from /proc).
//
//	TEST_DATABASE_URL=… go test -run '^$' -bench ClusterTurns -benchtime 20000x ./cmd/semvec/clustertest/
func BenchmarkClusterTurns(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			benchTurns(b, n)
		})
	}
}

func benchTurns(b *testing.B, n int) {
	if testEtcd == nil {
		b.Skip("etcd binary not found")
	}
	if os.Getenv("TEST_DATABASE_URL") == "" {
		b.Skip("TEST_DATABASE_URL not set")
	}
	t := testing.TB(b)
	db := needDatabase(t)
	env, token := licensed(t, clusterEnv(clusterName(t), testEtcd.ClientURL, db))
	nodes := startNodes(t, env, n)
	sessions := createSessions(t, token, nodes, 64)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	turn := func(k int) error {
		body := fmt.Sprintf(`{"session_id":%q,"message":"turn %d: how do I tune topic %d?"}`, sessions[k%len(sessions)], k, k%17)
		res, err := call(client, token, "POST", nodes[k%len(nodes)].base+"/v1/run", []byte(body))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	}
	for k := range 2 * len(sessions) { // every session active, connections open
		if err := turn(k); err != nil {
			b.Fatal(err)
		}
	}
	cpu := func() (sum int64) {
		for _, nd := range nodes {
			sum += cpuTicks(nd.cmd.Process.Pid)
		}
		return sum
	}
	var next atomic.Int64
	lat := make([][]time.Duration, 32)
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	cpu0 := cpu()
	b.ResetTimer()
	start := time.Now()
	for c := range lat {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= b.N {
					return
				}
				t0 := time.Now()
				if err := turn(k); err != nil {
					failed.Store(&err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / 1e6 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "turns/s")
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(time.Duration(cpu()-cpu0)*clockTick/time.Microsecond)/float64(b.N), "cpu-µs/turn")
}
