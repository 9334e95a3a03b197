package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

const testDim = 384

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func emb(text string) []float32 { return lexEmbed(text, testDim) }

func newTestSession(t testing.TB) *Session {
	t.Helper()
	return New(DefaultConfig(testDim))
}

// run performs one turn and fails the test on error.
func run(t testing.TB, s *Session, msg, resp string, turn int) RunResult {
	t.Helper()
	in := RunInput{Message: msg, MessageVec: emb(msg), ShortCircuitThreshold: 0.85,
		Now: t0.Add(time.Duration(turn) * time.Minute)}
	if resp != "" {
		in.Response, in.ResponseVec = resp, emb(resp)
	}
	res, err := s.Run(in)
	if err != nil {
		t.Fatalf("turn %d: %v", turn, err)
	}
	return res
}

// converse plays a scripted conversation with the inline pattern: each turn
// carries the answer to the previous question. prev is the answer to send
// with the first question ("" for none). It returns the per-turn results.
func converse(t testing.TB, s *Session, conv []qa, prev string, turn0 int) []RunResult {
	t.Helper()
	out := make([]RunResult, len(conv))
	for i, c := range conv {
		out[i] = run(t, s, c.Q, prev, turn0+i)
		prev = c.A
	}
	return out
}

// randUnit returns a deterministic random unit vector.
func randUnit(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	var n float64
	for i := range v {
		x := r.NormFloat64()
		v[i] = float32(x)
		n += x * x
	}
	n = math.Sqrt(n)
	for i := range v {
		v[i] = float32(float64(v[i]) / n)
	}
	return v
}

// noisy returns normalise(center + sigma·noise): a vector "about" center.
func noisy(r *rand.Rand, center []float32, sigma float64) []float32 {
	v := make([]float32, len(center))
	var n float64
	for i := range v {
		x := float64(center[i]) + sigma*r.NormFloat64()/math.Sqrt(float64(len(center)))
		v[i] = float32(x)
		n += x * x
	}
	n = math.Sqrt(n)
	for i := range v {
		v[i] = float32(float64(v[i]) / n)
	}
	return v
}

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
