package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
)

// BenchmarkHTTP measures whole requests through the in-process server
// (loopback HTTP, auth, rate limit, actors, SQLite): /v1/health as the HTTP
// floor next to /v1/run and /v1/store on 64 pre-filled sessions.
func BenchmarkHTTP(b *testing.B) {
	e := newEnv(b, "sqlite:///"+b.TempDir()+"/bench.db", nil)
	tok := e.token("bench", semvec.TierEnterprise)
	ids := make([]string, 64)
	for i := range ids {
		var res struct {
			SessionID string `json:"session_id"`
		}
		postJSON(b, e.base+"/v1/run", tok, map[string]any{"message": "How do I scale a Kubernetes deployment? " + strconv.Itoa(i)}, &res)
		ids[i] = res.SessionID
		for turn := 0; turn < 10; turn++ {
			postJSON(b, e.base+"/v1/run", tok, map[string]any{"session_id": ids[i], "message": "follow-up question number " + strconv.Itoa(turn), "response": "an answer about replicas"}, nil)
		}
	}
	b.Run("health", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				res, err := http.Get(e.base + "/v1/health")
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	})
	b.Run("run", func(b *testing.B) {
		b.ReportAllocs()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				postJSON(b, e.base+"/v1/run", tok, map[string]any{"session_id": ids[int(i)%len(ids)], "message": "what about rolling updates and replicas", "response": "use kubectl rollout"}, nil)
			}
		})
	})
	b.Run("store", func(b *testing.B) {
		b.ReportAllocs()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				postJSON(b, e.base+"/v1/store", tok, map[string]any{"session_id": ids[int(i)%len(ids)], "response": "use kubectl rollout status"}, nil)
			}
		})
	})
}

// benchClient keeps up to 64 connections per host open, so that N parallel
// callers are N connections (http.DefaultClient keeps 2 and would open and
// close a connection for most requests).
var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func postJSON(b testing.TB, url, tok string, body, out any) {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	req.Header.Set("X-API-Key", tok)
	req.Header.Set("Content-Type", "application/json")
	res, err := benchClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		msg, _ := io.ReadAll(res.Body)
		b.Fatalf("%s: %d %s", url, res.StatusCode, msg)
	}
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			b.Fatal(err)
		}
	} else {
		_, _ = io.Copy(io.Discard, res.Body)
	}
}

// BenchmarkHotCluster: 32 connections on one cluster's /run (every agent of
// a cluster hits its backing session, one actor); reports the p99 and the
// maximum latency a caller saw.
func BenchmarkHotCluster(b *testing.B) {
	e := newEnv(b, "sqlite:///"+b.TempDir()+"/hot.db", nil)
	tok := e.token("hot", semvec.TierEnterprise)
	var c struct {
		ClusterID string `json:"cluster_id"`
	}
	raw, _ := json.Marshal(map[string]any{"name": "hot"})
	req, _ := http.NewRequest(http.MethodPost, e.base+"/v1/cluster/", bytes.NewReader(raw))
	req.Header.Set("X-API-Key", tok)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 201 {
		b.Fatalf("create cluster: %v %v", err, res)
	}
	_ = json.NewDecoder(res.Body).Decode(&c)
	res.Body.Close()
	url := e.base + "/v1/cluster/" + c.ClusterID + "/run"
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism((32 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			start := time.Now()
			postJSON(b, url, tok, map[string]any{"message": "what about rolling updates and replicas"}, nil)
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	}
}
