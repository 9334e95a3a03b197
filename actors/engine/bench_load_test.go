package engine

import (
	"testing"
)

// BenchmarkRunManySessions approximates the server under load: 1,000
// sessions with full tiers (their memories scattered over a working set far
// larger than the cache), served round robin, each turn on a fresh goroutine
// like the session actor's mailbox batch.
func BenchmarkRunManySessions(b *testing.B) {
	const sessions, prefill = 1000, 100
	inputs := benchInputs(prefill + 256)
	ss := make([]*Session, sessions)
	for i := range ss {
		ss[i] = New(DefaultConfig(testDim))
		for _, in := range inputs[:prefill] {
			if _, err := ss[i].Run(in); err != nil {
				b.Fatal(err)
			}
		}
	}
	done := make(chan error)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		s := ss[i%sessions]
		in := inputs[prefill+(i/sessions)%256]
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
