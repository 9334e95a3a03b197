package engine

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/semvec-go/semvec/vecmath/embed"
)

// TestInt8KeyPrecision backs the promise of doc.go ("Memory keys"): scoring
// with int8 codes stays within 0.01 of the float cosine, for dense random
// vectors, the lexical test embedder and the built-in hashing embedder, and
// for Q&A keys built from the pending question's codes.
func TestInt8KeyPrecision(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	h := embed.NewHashing(testDim)
	var worst float64
	check := func(what string, got, want float64) {
		if e := math.Abs(got - want); e > worst {
			worst = e
			if e > 0.01 {
				t.Fatalf("%s: int8 cosine %.4f, float %.4f", what, got, want)
			}
		}
	}
	for i := range 6000 {
		var a, b []float32
		switch i % 3 {
		case 0:
			a = randUnit(r, testDim)
			b = noisy(r, a, 1+r.Float64())
		case 1:
			a, b = emb(k8sConversation[i%12].Q), emb(k8sConversation[(i/3)%12].A)
		default:
			a = unitCopy(h.EmbedTo(nil, "How do I scale a Kubernetes deployment? (variant "+strconv.Itoa(i%97)+")"))
			b = unitCopy(h.EmbedTo(nil, "Use kubectl scale deployment web --replicas="+strconv.Itoa(i%13)))
		}
		check("pair", float64(cosQ(quantize(a), quantize(b))), cos(a, b))
		// The Q&A key of a pending question held as codes.
		key := qaKeyCodes(make([]int8, testDim), quantize(a), b)
		ref := qaKey(make([]float32, testDim), a, b)
		probe := noisy(r, a, 1)
		check("Q&A key", float64(cosQ(key, quantize(probe))), cos(ref, probe))
	}
	t.Logf("largest cosine error %.5f", worst)
	// Exact and symmetric: a key scores 1 against itself.
	k := quantize(randUnit(r, testDim))
	if cosQ(k, k) != 1 {
		t.Fatalf("self cosine %v", cosQ(k, k))
	}
}

// TestFootprintQA100Turns is the footprint target of a 100-turn session at
// 384 dimensions with the load test's short Q&A texts and the built-in
// embedder: at most 56 KiB (48 KiB before the token arena of the lexical
// evidence, which adds at most 137 bytes per key slot), and level from there
// on.
func TestFootprintQA100Turns(t *testing.T) {
	topics := [][2]string{
		{"How do I scale a Kubernetes deployment?", "Use kubectl scale deployment web --replicas=5."},
		{"What is the difference between a pod and a deployment?", "A deployment manages replica sets of pods."},
		{"How do I configure a Postgres read replica?", "Enable streaming replication and set primary_conninfo."},
		{"Why is my Go program leaking goroutines?", "A goroutine blocks forever on a channel nobody closes."},
		{"How do I bake sourdough bread at home?", "Feed the starter, mix, bulk ferment, shape and bake hot."},
		{"What causes high p99 latency in HTTP services?", "Queueing, GC pauses, lock contention and slow dependencies."},
	}
	message := func(i int) (string, string) {
		tp := topics[i%len(topics)]
		return tp[0] + " (variant " + strconv.Itoa(i%97) + ")", tp[1]
	}
	h := embed.NewHashing(testDim)
	s := newTestSession(t)
	answer := ""
	sizes := map[int]int{}
	for turn := range 400 {
		q, a := message(17*7 + turn)
		in := RunInput{Message: q, MessageVec: h.EmbedTo(nil, q), ShortCircuitThreshold: 0.85, Now: t0.Add(time.Duration(turn) * time.Second)}
		if answer != "" {
			in.Response, in.ResponseVec = answer, h.EmbedTo(nil, answer)
		}
		if _, err := s.Run(in); err != nil {
			t.Fatal(err)
		}
		answer = a
		if n := turn + 1; n == 100 || n == 400 {
			sizes[n] = s.ApproxSize()
		}
	}
	t.Logf("ApproxSize: %.1f KiB at 100 turns, %.1f KiB at 400; %d memories",
		float64(sizes[100])/1024, float64(sizes[400])/1024, s.TotalMemories())
	if sizes[100] > 56<<10 {
		t.Errorf("100 turns: %d bytes, above 56 KiB", sizes[100])
	}
	if d := sizes[400] - sizes[100]; d > sizes[100]/10 || d < -sizes[100]/10 {
		t.Errorf("size does not level off: %d at 100 turns, %d at 400", sizes[100], sizes[400])
	}
}

// TestLargeDimension runs the paths whose scratch falls back from the stack
// to the heap (more than stackDim dimensions, more than stackScores
// memories): a long session with merges, quarantine, Verify and snapshots.
func TestLargeDimension(t *testing.T) {
	const dim = stackDim + 200
	cfg := DefaultConfig(dim)
	cfg.MediumTermCap = stackScores // more memories than the score array holds
	s := New(cfg)
	s.AddAnchor(randUnit(rand.New(rand.NewPCG(4, 4)), dim))
	longSession(t, s, 600, 3)
	if s.TotalMemories() <= stackScores {
		t.Fatalf("only %d memories", s.TotalMemories())
	}
	r := rand.New(rand.NewPCG(9, 9))
	s.SetIsolation(IsolationPolicy{Level: LevelQuarantine, Allowlist: [][]float32{randUnit(r, dim)}, Threshold: 0.99})
	if res, err := s.Run(RunInput{Message: "stopped", MessageVec: randUnit(r, dim), Response: "an answer", ResponseVec: randUnit(r, dim), Now: t0}); err != nil || res.Isolation != VerdictQuarantined {
		t.Fatal(res.Isolation, err)
	}
	s.Store("its answer", randUnit(r, dim), t0)
	if n := s.ReleaseQuarantine(t0); n != 1 {
		t.Fatalf("released %d", n)
	}
	if items := s.ContextItems(10, false, 0); len(items) != 10 {
		t.Fatalf("%d items", len(items))
	}
	d, _, err := s.Export()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := ImportWith(cfg, d) // the server's configuration is cfg here
	if err != nil {
		t.Fatal(err)
	}
	tests := [][]float32{randUnit(r, dim), randUnit(r, dim)}
	if ok, err := s2.Verify(tests, s, 0); err != nil || !ok {
		t.Fatal("imported session inconsistent", err)
	}
	b, _ := s2.MarshalBinary()
	s3, err := UnmarshalBinary(b)
	if err != nil {
		t.Fatal(err)
	}
	in := RunInput{Message: "next", MessageVec: randUnit(r, dim), Response: "r", ResponseVec: randUnit(r, dim), Now: t0}
	r1, _ := s.Run(in)
	r3, _ := s3.Run(in)
	if r1.Context != r3.Context || r1.Update != r3.Update || r1.TopSimilarity != r3.TopSimilarity {
		t.Fatal("restored session diverged")
	}
}
