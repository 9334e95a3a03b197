package main

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package when its tests leave goroutines running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wrk's report gives the figures of a round, its duration included.
func TestParseWrk(t *testing.T) {
	raw := []byte(`Running 3s test @ http://127.0.0.1:4000
  2 threads and 32 connections
  Latency Distribution
     50%  752.00us
     75%    1.10ms
     90%    2.01ms
     99%    6.47ms
  108294 requests in 3.33s, 130.12MB read
  Socket errors: connect 0, read 2, write 1, timeout 0
  Non-2xx or 3xx responses: 5
Requests/sec:  32521.02
`)
	st := parseWrk(raw)
	if st.Requests != 108294 || st.Seconds != 3.33 || st.RPS != 32521.02 || st.P50ms != 0.752 || st.P99ms != 6.47 || st.Non2xx != 5 || st.Errors != 3 {
		t.Fatalf("parsed %+v", st)
	}
}

// Rounds combine into requests over total time; p99 comes from every
// sample when they were kept, else it is the worst round's.
func TestCombineRounds(t *testing.T) {
	rounds := []stats{
		{Endpoint: "/v1/run", Concurrency: 32, Requests: 300, Seconds: 1, P50ms: 1, P99ms: 4, Non2xx: 1},
		{Endpoint: "/v1/run", Concurrency: 32, Requests: 100, Seconds: 1, P50ms: 3, P99ms: 9, Errors: 2},
		{Endpoint: "/v1/run", Concurrency: 32, Requests: 200, Seconds: 2, P50ms: 2, P99ms: 5},
	}
	got := combine(rounds, nil)
	if got.Requests != 600 || got.Seconds != 4 || got.RPS != 150 || got.P50ms != 2 || got.P99ms != 9 ||
		got.Non2xx != 1 || got.Errors != 2 || got.Rounds != 3 || got.Endpoint != "/v1/run" || got.Concurrency != 32 {
		t.Fatalf("combined %+v", got)
	}
	samples := make([]time.Duration, 0, 100)
	for i := 100; i >= 1; i-- {
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	got = combine(rounds, samples)
	if got.P50ms != 51 || got.P99ms != 100 {
		t.Fatalf("from samples: p50 %v p99 %v", got.P50ms, got.P99ms)
	}
}

func TestRoundLength(t *testing.T) {
	for _, c := range []struct {
		d      time.Duration
		rounds int
		want   time.Duration
	}{{10 * time.Second, 3, 3 * time.Second}, {12 * time.Second, 3, 4 * time.Second}, {time.Second, 3, time.Second}, {9 * time.Second, 1, 9 * time.Second}} {
		if got := roundLength(options{duration: c.d, rounds: c.rounds}); got != c.want {
			t.Errorf("%v / %d: %v, want %v", c.d, c.rounds, got, c.want)
		}
	}
}
