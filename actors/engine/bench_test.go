package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchInputs pre-computes n turns of synthetic input.
func benchInputs(n int) []RunInput {
	r := rand.New(rand.NewPCG(99, 1))
	topics := [][]float32{randUnit(r, testDim), randUnit(r, testDim), randUnit(r, testDim)}
	out := make([]RunInput, n)
	for i := range out {
		topic := topics[(i/20)%len(topics)]
		out[i] = RunInput{
			Message:               fmt.Sprintf("question %d about the deployment rollout of service %d", i, i%7),
			MessageVec:            noisy(r, topic, 1.5),
			Response:              fmt.Sprintf("answer %d: run kubectl rollout status and check the pods of service %d carefully", i, i%7),
			ResponseVec:           noisy(r, topic, 1.5),
			ShortCircuitThreshold: 0.85,
			Now:                   t0.Add(time.Duration(i) * time.Second),
		}
	}
	return out
}

func benchRunAt(b *testing.B, prefill int) { benchRunWith(b, prefill, DefaultConfig(testDim)) }

func benchRunWith(b *testing.B, prefill int, cfg Config) {
	inputs := benchInputs(prefill + 64)
	s := New(cfg)
	for i := range 20 {
		s.PutEntity(Entity{Key: fmt.Sprintf("service%d.replicas", i), Kind: "variable", Value: "int32 = 3"})
	}
	for _, in := range inputs[:prefill] {
		if _, err := s.Run(in); err != nil {
			b.Fatal(err)
		}
	}
	snap, _ := s.MarshalBinary()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i == 64 { // stay at the same turn count: restore the pre-filled session
			b.StopTimer()
			s, _ = UnmarshalBinary(snap)
			i = 0
			b.StartTimer()
		}
		if _, err := s.Run(inputs[prefill+i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkRunTurn10(b *testing.B)    { benchRunAt(b, 10) }
func BenchmarkRunTurn10000(b *testing.B) { benchRunAt(b, 10000) }

// BenchmarkRunTurn10000NoPolicy is BenchmarkRunTurn10000 with the memory
// policy off: the difference is its cost.
func BenchmarkRunTurn10000NoPolicy(b *testing.B) {
	benchRunWith(b, 10000, DefaultConfig(testDim).WithoutMemoryPolicy())
}

func BenchmarkContextItems(b *testing.B) {
	s := New(DefaultConfig(testDim))
	for _, in := range benchInputs(500) {
		s.Run(in)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.ContextItems(5, false, 0)
	}
}

func BenchmarkExport(b *testing.B) {
	s := New(DefaultConfig(testDim))
	for _, in := range benchInputs(500) {
		s.Run(in)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Export(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkImport(b *testing.B) {
	s := New(DefaultConfig(testDim))
	for _, in := range benchInputs(500) {
		s.Run(in)
	}
	d, _, _ := s.Export()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Import(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalBinary(b *testing.B) {
	s := New(DefaultConfig(testDim))
	for _, in := range benchInputs(500) {
		s.Run(in)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalBinary(b *testing.B) {
	s := New(DefaultConfig(testDim))
	for _, in := range benchInputs(500) {
		s.Run(in)
	}
	blob, _ := s.MarshalBinary()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UnmarshalBinary(blob); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunFreshGoroutine runs every turn on a new goroutine, as the
// session actor does per mailbox batch: a fresh (small) stack, so large
// per-call frames make the runtime grow and copy it (runtime.newstack).
func BenchmarkRunFreshGoroutine(b *testing.B) {
	const prefill = 200
	inputs := benchInputs(prefill + 64)
	s := New(DefaultConfig(testDim))
	for _, in := range inputs[:prefill] {
		if _, err := s.Run(in); err != nil {
			b.Fatal(err)
		}
	}
	snap, _ := s.MarshalBinary()
	done := make(chan error)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i == 64 {
			b.StopTimer()
			s, _ = UnmarshalBinary(snap)
			i = 0
			b.StartTimer()
		}
		in := inputs[prefill+i]
		go func() {
			_, err := s.Run(in)
			done <- err
		}()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		i++
	}
}
