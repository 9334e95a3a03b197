package persistence_test

import (
	"context"
	"testing"
)

// BenchmarkSaveNetworkState measures one save of a 4.4 MB network state
// (an owner's at the enrolment cap) on SQLite: the time it holds the
// database's write lock.
func BenchmarkSaveNetworkState(b *testing.B) {
	ctx := context.Background()
	s, _ := benchSessions(b, 0)
	data := make([]byte, 4400<<10)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	epoch, err := s.ActivateNetwork(ctx, "o")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		data[i%len(data)] ^= 1
		if err := s.SaveNetworkState(ctx, "o", epoch, data); err != nil {
			b.Fatal(err)
		}
	}
}
