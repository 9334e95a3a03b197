// Command loadtest measures a semvec-go server the way docs/benchmarks.md
// describes: it starts the server binary on a fresh SQLite database, pre-fills
// sessions, then measures throughput and latency percentiles of /v1/run and
// /v1/store next to /v1/health (the HTTP floor) at several concurrencies. It
// also measures constant cost (turn 10 vs turn 10,000 of one session),
// resident memory per active session, and start-up time with many persisted
// sessions.
//
//	go build -o bin/semvec ./cmd/semvec && go run ./cmd/loadtest --binary bin/semvec
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/semvec-go/semvec/http/api"
	"github.com/semvec-go/semvec/http/client"
)

type options struct {
	binary       string
	sessions     int
	turns        int
	concurrency  []int
	duration     time.Duration
	longTurns    int
	memSessions  int
	memTurns     int
	startupCount int
	only         string
	jsonOut      string
	client       string
	wrkHealth    string // script or static (see wrkScript)
	rounds       int
}

func main() {
	var o options
	var conc string
	flag.StringVar(&o.binary, "binary", "bin/semvec", "semvec server binary (go build -o bin/semvec ./cmd/semvec)")
	flag.IntVar(&o.sessions, "sessions", 1000, "sessions to pre-fill")
	flag.IntVar(&o.turns, "turns", 10, "turns per pre-filled session")
	flag.StringVar(&conc, "concurrency", "1,32,64", "comma-separated connection counts")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measurement time per endpoint and concurrency")
	flag.IntVar(&o.longTurns, "long-turns", 10000, "turns of the constant-cost session")
	flag.IntVar(&o.memSessions, "mem-sessions", 1000, "sessions for the memory measurement")
	flag.IntVar(&o.memTurns, "mem-turns", 100, "turns per session for the memory measurement")
	flag.IntVar(&o.startupCount, "startup-sessions", 10000, "persisted sessions for the start-up measurement")
	flag.StringVar(&o.only, "only", "throughput,constant,memory,startup", "which measurements to run")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&o.client, "client", "go", "load generator for the throughput runs: go (built in) or wrk (Debian package wrk)")
	flag.StringVar(&o.wrkHealth, "wrk-health", "script", "how wrk sends /v1/health: script (through the same Lua request() call as run and store, so the generator costs the same per request) or static (wrk's built-in request, cheaper for the client)")
	flag.IntVar(&o.rounds, "rounds", 3, "throughput rounds per concurrency: health, run and store take turns, each for duration/rounds (whole seconds), so a slow change in a shared machine's speed hits every endpoint alike")
	flag.Parse()
	if o.rounds < 1 {
		fail(fmt.Errorf("--rounds: %d", o.rounds))
	}
	if o.wrkHealth != "script" && o.wrkHealth != "static" {
		fail(fmt.Errorf("--wrk-health: %q, want script or static", o.wrkHealth))
	}
	// The Go client is the load generator: collect its garbage rarely, so
	// its own pauses add little to the latencies it measures.
	debug.SetGCPercent(400)
	for _, c := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			fail(fmt.Errorf("--concurrency: %q", c))
		}
		o.concurrency = append(o.concurrency, n)
	}
	results := map[string]any{"date": time.Now().UTC().Format(time.RFC3339), "options": fmt.Sprintf("%+v", o)}
	want := func(s string) bool { return slices.Contains(strings.Split(o.only, ","), s) }
	if want("throughput") {
		results["throughput"] = throughput(o)
	}
	if want("constant") {
		results["constant_cost"] = constantCost(o)
	}
	if want("memory") {
		results["memory"] = memory(o)
	}
	if want("startup") {
		results["startup"] = startup(o)
	}
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			fail(err)
		}
	}
}

// ctx is the context of every call: the measurements run until they end.
var ctx = context.Background()

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadtest:", err)
	os.Exit(1)
}

// server is one semvec process on a fresh database.
type server struct {
	cmd   *exec.Cmd
	base  string
	token string
	dir   string
	env   []string
}

func newServer(o options, dir string) *server {
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "semvec-load-"); err != nil {
			fail(err)
		}
	}
	keys := filepath.Join(dir, "keys")
	if _, err := os.Stat(filepath.Join(keys, "license_private.pem")); err != nil {
		_ = os.MkdirAll(keys, 0o700)
		if out, err := exec.Command(o.binary, "license", "keygen", "--dir", keys).CombinedOutput(); err != nil {
			fail(fmt.Errorf("keygen: %v: %s", err, out))
		}
	}
	tok, err := exec.Command(o.binary, "license", "issue", "--key", filepath.Join(keys, "license_private.pem"), "--sub", "load", "--tier", "enterprise", "--ttl", "24h").Output()
	if err != nil {
		fail(fmt.Errorf("issue: %v", err))
	}
	s := &server{dir: dir, token: strings.TrimSpace(string(tok))}
	s.env = append(os.Environ(),
		"DATABASE_URL=sqlite:///"+filepath.Join(dir, "bench.db"),
		"SEMVEC_LICENSE_PUBLIC_KEY_FILE="+filepath.Join(keys, "license_public.pem"),
		"SEMVEC_LOG_LEVEL=warn", "SEMVEC_MAX_SESSIONS=20000")
	return s
}

// start runs the server and returns how long it took until /v1/readyz said 200.
func (s *server) start(o options) time.Duration {
	port := freePort()
	s.base = "http://127.0.0.1:" + strconv.Itoa(port)
	s.cmd = exec.Command(o.binary, "serve", "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	s.cmd.Env = s.env
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, os.Stderr
	dieWithParent(s.cmd)
	t0 := time.Now()
	if err := s.cmd.Start(); err != nil {
		fail(err)
	}
	for time.Since(t0) < 30*time.Second {
		res, err := http.Get(s.base + "/v1/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return time.Since(t0)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	fail(errors.New("server did not become ready in 30 s"))
	return 0
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Wait()
}

func (s *server) rssKiB() int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	return -1
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newClient returns a Go client (package http/client) of s with up to conns
// connections. It does not retry a 429 or 503: the measurements count them.
func newClient(s *server, conns int) *client.Client {
	tr := &http.Transport{MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
	return client.New(s.base, client.WithToken(s.token), client.WithRetries(0),
		client.WithHTTPClient(&http.Client{Transport: tr, Timeout: 30 * time.Second}))
}

// status is what hammer counts of a call: 200 when it succeeded, the status
// of an error answer, or the error of a call that got no answer.
func status(err error) (int, error) {
	if err == nil {
		return http.StatusOK, nil
	}
	if st := client.StatusOf(err); st != 0 {
		return st, nil
	}
	return 0, err
}

var topics = [][]string{
	{"How do I scale a Kubernetes deployment?", "Use kubectl scale deployment web --replicas=5."},
	{"What is the difference between a pod and a deployment?", "A deployment manages replica sets of pods."},
	{"How do I configure a Postgres read replica?", "Enable streaming replication and set primary_conninfo."},
	{"Why is my Go program leaking goroutines?", "A goroutine blocks forever on a channel nobody closes."},
	{"How do I bake sourdough bread at home?", "Feed the starter, mix, bulk ferment, shape and bake hot."},
	{"What causes high p99 latency in HTTP services?", "Queueing, GC pauses, lock contention and slow dependencies."},
}

func message(i int) (string, string) {
	t := topics[i%len(topics)]
	return t[0] + " (variant " + strconv.Itoa(i%97) + ")", t[1]
}

// prefill creates n sessions with turns turns each and returns their ids.
func prefill(c *client.Client, n, turns, workers int) []string {
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				q, a := message(i)
				res, err := c.Run(ctx, api.RunBody{Message: q})
				if err != nil {
					fail(fmt.Errorf("prefill: %w", err))
				}
				ids[i] = res.SessionID
				for t := 1; t < turns; t++ {
					q, a2 := message(i + t)
					if _, err := c.Run(ctx, api.RunBody{SessionID: ids[i], Message: q, Response: a}); err != nil {
						fail(fmt.Errorf("prefill turn: %w", err))
					}
					a = a2
				}
			}
		}()
	}
	wg.Wait()
	return ids
}

type stats struct {
	Endpoint    string  `json:"endpoint"`
	Concurrency int     `json:"concurrency"`
	Requests    int     `json:"requests"`
	RPS         float64 `json:"rps"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	Non2xx      int     `json:"non_2xx"`
	Status429   int     `json:"status_429"`
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	// ServerCPUus is the server process's CPU time (user + system) per
	// request during the measurement, in microseconds; 0 where it cannot
	// be read. It does not depend on how fast the load generator is.
	ServerCPUus float64 `json:"server_cpu_us_per_request,omitempty"`
	Rounds      int     `json:"rounds,omitempty"` // set on the combined figures
}

// hammer runs req from conc workers for d and returns the statistics with
// the latency of every request.
func hammer(name string, conc int, d time.Duration, req func(worker, i int) (int, error)) (stats, []time.Duration) {
	var mu sync.Mutex
	var lat []time.Duration
	st := stats{Endpoint: name, Concurrency: conc}
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			var non2xx, s429, errs int
			for i := 0; time.Now().Before(deadline); i++ {
				t0 := time.Now()
				code, err := req(w, i)
				local = append(local, time.Since(t0))
				switch {
				case err != nil:
					errs++
				case code == 429:
					s429++
				case code < 200 || code > 299:
					non2xx++
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			st.Non2xx += non2xx
			st.Status429 += s429
			st.Errors += errs
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	st.Seconds = time.Since(start).Seconds()
	slices.Sort(lat)
	st.Requests = len(lat)
	st.RPS = float64(len(lat)) / st.Seconds
	st.P50ms = ms(pct(lat, 0.50))
	st.P99ms = ms(pct(lat, 0.99))
	return st, lat
}

// printStats prints one line of figures; prefix names the generator and
// the round.
func printStats(prefix string, st stats) {
	cpu := ""
	if st.ServerCPUus > 0 {
		cpu = fmt.Sprintf("  server %4.0f cpu-µs/req", st.ServerCPUus)
	}
	fmt.Printf("%s%-12s c=%-3d  %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms%s  n=%d non2xx=%d 429=%d errors=%d\n",
		prefix, st.Endpoint, st.Concurrency, st.RPS, st.P50ms, st.P99ms, cpu, st.Requests, st.Non2xx, st.Status429, st.Errors)
}

// measureCPU runs one measurement and sets its ServerCPUus from the
// server's CPU time before and after.
func (s *server) measureCPU(run func() stats) stats {
	before := processCPU(s.cmd.Process.Pid)
	st := run()
	after := processCPU(s.cmd.Process.Pid)
	if before >= 0 && after >= 0 && st.Requests > 0 {
		st.ServerCPUus = float64((after - before).Microseconds()) / float64(st.Requests)
	}
	return st
}

// combine sums the rounds of one endpoint: requests over the time they took,
// error counts summed. The percentiles come from all samples when the rounds
// kept them (the Go client); otherwise (wrk reports only percentiles) p50 is
// the median of the rounds' and p99 the worst round's, never better than any
// round measured.
func combine(rounds []stats, samples []time.Duration) stats {
	out := stats{Endpoint: rounds[0].Endpoint, Concurrency: rounds[0].Concurrency, Rounds: len(rounds)}
	var p50s []float64
	var cpu float64 // server CPU µs summed over the rounds' requests
	for _, r := range rounds {
		out.Requests += r.Requests
		out.Seconds += r.Seconds
		out.Non2xx += r.Non2xx
		out.Status429 += r.Status429
		out.Errors += r.Errors
		out.P99ms = max(out.P99ms, r.P99ms)
		p50s = append(p50s, r.P50ms)
		cpu += r.ServerCPUus * float64(r.Requests)
	}
	if out.Seconds > 0 {
		out.RPS = float64(out.Requests) / out.Seconds
	}
	if out.Requests > 0 {
		out.ServerCPUus = cpu / float64(out.Requests)
	}
	slices.Sort(p50s)
	out.P50ms = p50s[len(p50s)/2]
	if len(samples) > 0 {
		slices.Sort(samples)
		out.P50ms = ms(pct(samples, 0.50))
		out.P99ms = ms(pct(samples, 0.99))
	}
	return out
}

// printRatios prints /v1/run and /v1/store throughput as a share of
// /v1/health's, over all rounds and round by round.
func printRatios(prefix string, conc int, perRound map[string][]stats) {
	health := perRound["/v1/health"]
	floor := combine(health, nil).RPS
	for _, ep := range []string{"/v1/run", "/v1/store"} {
		rs := perRound[ep]
		var each []string
		for i := range rs {
			each = append(each, fmt.Sprintf("%.2f", rs[i].RPS/health[i].RPS))
		}
		fmt.Printf("%s%-12s c=%-3d  %.2f× /v1/health throughput (rounds: %s)\n",
			prefix, ep, conc, combine(rs, nil).RPS/floor, strings.Join(each, ", "))
	}
}

func pct(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func throughput(o options) []stats {
	s := newServer(o, "")
	s.start(o)
	defer s.stop()
	maxConc := slices.Max(o.concurrency)
	c := newClient(s, maxConc)
	t0 := time.Now()
	ids := prefill(c, o.sessions, o.turns, 32)
	fmt.Printf("pre-filled %d sessions × %d turns in %s\n", o.sessions, o.turns, time.Since(t0).Round(time.Millisecond))
	if o.client == "wrk" {
		return wrkThroughput(o, s, ids)
	}
	var out []stats
	round := roundLength(o)
	for _, conc := range o.concurrency {
		c := newClient(s, conc)
		perRound := map[string][]stats{}
		samples := map[string][]time.Duration{}
		load := map[string]func(w, i int) (int, error){
			"/v1/health": func(w, i int) (int, error) {
				_, err := c.Health(ctx)
				return status(err)
			},
			"/v1/run": func(w, i int) (int, error) {
				r := rand.IntN(len(ids))
				q, a := message(r + i)
				_, err := c.Run(ctx, api.RunBody{SessionID: ids[r], Message: q, Response: a})
				return status(err)
			},
			"/v1/store": func(w, i int) (int, error) {
				r := rand.IntN(len(ids))
				_, a := message(r + i)
				_, err := c.Store(ctx, api.StoreBody{SessionID: ids[r], Response: a})
				return status(err)
			},
		}
		for k := range o.rounds {
			for _, ep := range endpoints {
				var lat []time.Duration
				st := s.measureCPU(func() stats {
					var st stats
					st, lat = hammer(ep, conc, round, load[ep])
					return st
				})
				printStats(fmt.Sprintf("round %d/%d ", k+1, o.rounds), st)
				perRound[ep] = append(perRound[ep], st)
				samples[ep] = append(samples[ep], lat...)
			}
		}
		for _, ep := range endpoints {
			st := combine(perRound[ep], samples[ep])
			printStats("all rounds  ", st)
			out = append(out, st)
		}
		printRatios("all rounds  ", conc, perRound)
	}
	return out
}

// roundLength is how long one endpoint is measured in one round: the
// duration shared by the rounds, in whole seconds (what wrk accepts), at
// least one.
func roundLength(o options) time.Duration {
	return max(time.Second, (o.duration / time.Duration(o.rounds)).Round(time.Second))
}

// endpoints are measured in this order in every round.
var endpoints = []string{"/v1/health", "/v1/run", "/v1/store"}

// constantCost drives one session to longTurns turns and compares the median
// latency of a window around turn 10 with one at the end.
func constantCost(o options) map[string]any {
	s := newServer(o, "")
	s.start(o)
	defer s.stop()
	c := newClient(s, 1)
	lat := make([]time.Duration, o.longTurns)
	maxCtx := 0
	var sid string
	for t := 0; t < o.longTurns; t++ {
		q, a := message(t)
		t0 := time.Now()
		res, err := c.Run(ctx, api.RunBody{SessionID: sid, Message: q, Response: a})
		if err != nil {
			fail(fmt.Errorf("turn %d: %w", t, err))
		}
		lat[t] = time.Since(t0)
		sid = res.SessionID
		maxCtx = max(maxCtx, len(res.Context))
	}
	window := func(from, to int) time.Duration {
		w := slices.Clone(lat[from:to])
		slices.Sort(w)
		return w[len(w)/2]
	}
	early := window(5, min(105, o.longTurns))
	late := window(max(0, o.longTurns-100), o.longTurns)
	ratio := float64(late) / float64(early)
	fmt.Printf("constant cost: median /v1/run around turn 10: %.3f ms, at turn %d: %.3f ms (ratio %.2f); largest context block %d chars\n",
		ms(early), o.longTurns, ms(late), ratio, maxCtx)
	return map[string]any{"turns": o.longTurns, "median_early_ms": ms(early), "median_late_ms": ms(late), "ratio": ratio, "max_context_chars": maxCtx}
}

// memory measures resident memory with memSessions active sessions as they
// grow, to show the per-session figure and that it levels off.
func memory(o options) map[string]any {
	s := newServer(o, "")
	s.start(o)
	defer s.stop()
	c := newClient(s, 32)
	time.Sleep(300 * time.Millisecond)
	base := s.rssKiB()
	ids := prefill(c, o.memSessions, 1, 32)
	points := []map[string]any{}
	done := 1
	for _, target := range []int{10, 25, 50, 100, 200, 400} {
		if target > o.memTurns*4 {
			break
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= len(ids) {
						return
					}
					for t := done; t < target; t++ {
						q, a := message(i*7 + t)
						if _, err := c.Run(ctx, api.RunBody{SessionID: ids[i], Message: q, Response: a}); err != nil {
							fail(fmt.Errorf("memory run: %w", err))
						}
					}
				}
			}()
		}
		wg.Wait()
		done = target
		time.Sleep(500 * time.Millisecond)
		rss := s.rssKiB()
		per := float64(rss-base) / float64(len(ids))
		fmt.Printf("memory: %d sessions × %d turns: RSS %d MiB (base %d MiB), %.1f KiB per session\n", len(ids), target, rss/1024, base/1024, per)
		points = append(points, map[string]any{"turns": target, "rss_kib": rss, "per_session_kib": per})
	}
	return map[string]any{"sessions": len(ids), "base_rss_kib": base, "points": points}
}

// startup persists startupCount sessions, restarts the server and times how
// long it takes to be ready (sessions come back lazily).
func startup(o options) map[string]any {
	s := newServer(o, "")
	s.start(o)
	c := newClient(s, 32)
	ids := prefill(c, o.startupCount, 2, 32)
	s.stop()
	ready := s.start(o)
	defer s.stop()
	c = newClient(s, 1)
	t0 := time.Now()
	_, err := c.SessionMetrics(ctx, ids[len(ids)/2])
	first := time.Since(t0)
	if err != nil {
		fail(fmt.Errorf("reactivation: %w", err))
	}
	fmt.Printf("start-up with %d persisted sessions: ready in %s; first request to a persisted session %s\n", len(ids), ready.Round(time.Millisecond), first.Round(10*time.Microsecond))
	return map[string]any{"persisted_sessions": len(ids), "ready_ms": ms(ready), "first_reactivation_ms": ms(first)}
}
