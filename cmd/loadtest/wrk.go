package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkScript drives /v1/health, /v1/run or /v1/store (WRK_MODE) over the
// pre-filled session ids in WRK_IDS. The requests are built once, in init
// (a random session and a topic variant each, 8,192 of them per thread,
// sent in turn), so wrk spends its share of the two cores on HTTP, not on
// assembling bodies in Lua. Health goes through the same request() call,
// so every endpoint costs the generator the same per request; with
// WRK_HEALTH=static it is wrk's own static request instead (no Lua call per
// request: a cheaper client for health only).
const wrkScript = `
local ids = {}
local token = os.getenv("SEMVEC_TOKEN")
local mode = os.getenv("WRK_MODE")
local topics = {
  {"How do I scale a Kubernetes deployment?", "Use kubectl scale deployment web --replicas=5."},
  {"What is the difference between a pod and a deployment?", "A deployment manages replica sets of pods."},
  {"How do I configure a Postgres read replica?", "Enable streaming replication and set primary_conninfo."},
  {"Why is my Go program leaking goroutines?", "A goroutine blocks forever on a channel nobody closes."},
  {"How do I bake sourdough bread at home?", "Feed the starter, mix, bulk ferment, shape and bake hot."},
  {"What causes high p99 latency in HTTP services?", "Queueing, GC pauses, lock contention and slow dependencies."},
}
local headers = {["Content-Type"] = "application/json", ["X-API-Key"] = token}
local reqs = {}
local n = 0
function init(args)
  for line in io.lines(os.getenv("WRK_IDS")) do ids[#ids + 1] = line end
  math.randomseed(os.time() + #ids + math.floor(os.clock() * 1000000))
  if mode == "health" then
    reqs[1] = wrk.format("GET", "/v1/health")
    return
  end
  for i = 1, 8192 do
    local id = ids[math.random(#ids)]
    local t = topics[(i % #topics) + 1]
    if mode == "run" then
      reqs[i] = wrk.format("POST", "/v1/run", headers,
        '{"session_id":"' .. id .. '","message":"' .. t[1] .. ' (variant ' .. (i % 97) .. ')","response":"' .. t[2] .. '"}')
    else
      reqs[i] = wrk.format("POST", "/v1/store", headers, '{"session_id":"' .. id .. '","response":"' .. t[2] .. '"}')
    end
  end
end
if mode ~= "health" or os.getenv("WRK_HEALTH") ~= "static" then
  function request()
    n = n % #reqs + 1
    return reqs[n]
  end
end
`

// wrkThroughput measures with wrk (a C load generator, far cheaper per
// request than a Go client), so more of the two cores go to the server.
func wrkThroughput(o options, s *server, ids []string) []stats {
	dir := s.dir
	idsFile := filepath.Join(dir, "ids.txt")
	if err := os.WriteFile(idsFile, []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
		fail(err)
	}
	script := filepath.Join(dir, "semvec.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		fail(err)
	}
	var out []stats
	round := roundLength(o)
	for _, conc := range o.concurrency {
		perRound := map[string][]stats{}
		for k := range o.rounds {
			for _, ep := range endpoints {
				mode := strings.TrimPrefix(ep, "/v1/")
				threads := min(2, conc)
				url := s.base
				if mode == "health" {
					url += "/v1/health"
				}
				cmd := exec.Command("wrk", "-t"+strconv.Itoa(threads), "-c"+strconv.Itoa(conc), "-d"+strconv.Itoa(int(round.Seconds()))+"s", "--latency", "-s", script, url)
				cmd.Env = append(os.Environ(), "SEMVEC_TOKEN="+s.token, "WRK_MODE="+mode, "WRK_IDS="+idsFile, "WRK_HEALTH="+o.wrkHealth)
				st := s.measureCPU(func() stats {
					raw, err := cmd.CombinedOutput()
					if err != nil {
						fail(fmt.Errorf("wrk: %v: %s", err, raw))
					}
					return parseWrk(raw)
				})
				st.Endpoint, st.Concurrency = ep, conc
				printStats(fmt.Sprintf("wrk round %d/%d ", k+1, o.rounds), st)
				perRound[ep] = append(perRound[ep], st)
			}
		}
		for _, ep := range endpoints {
			st := combine(perRound[ep], nil)
			printStats("wrk all rounds  ", st)
			out = append(out, st)
		}
		printRatios("wrk all rounds  ", conc, perRound)
	}
	return out
}

// parseWrk reads the figures of wrk --latency output.
func parseWrk(raw []byte) stats {
	var st stats
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 2 && f[0] == "Requests/sec:":
			st.RPS, _ = strconv.ParseFloat(f[1], 64)
		case len(f) >= 2 && f[0] == "50%":
			st.P50ms = wrkMillis(f[1])
		case len(f) >= 2 && f[0] == "99%":
			st.P99ms = wrkMillis(f[1])
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			st.Requests, _ = strconv.Atoi(f[0])
			if d, err := time.ParseDuration(strings.TrimSuffix(f[3], ",")); err == nil {
				st.Seconds = d.Seconds()
			}
		case len(f) >= 5 && f[0] == "Non-2xx":
			st.Non2xx, _ = strconv.Atoi(f[4])
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			for _, part := range strings.Split(strings.Join(f[2:], " "), ",") {
				if kv := strings.Fields(part); len(kv) == 2 {
					n, _ := strconv.Atoi(kv[1])
					st.Errors += n
				}
			}
		}
	}
	return st
}

// wrkMillis converts wrk's "1.23ms" / "850.00us" / "1.02s" to milliseconds.
func wrkMillis(s string) float64 {
	d, err := time.ParseDuration(s)
	if err != nil {
		return -1
	}
	return float64(d.Microseconds()) / 1000
}
