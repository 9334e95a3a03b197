package persistence_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/semvec-go/semvec/persistence"
)

// BenchmarkSaveNetworkState measures saves of an owner's network state at
// the enrolment cap on SQLite (64 user partitions of 68 KB, 4.4 MB): the
// whole state (as the first save of one loaded in one blob, or after a
// failed save), and one partition (a transfer's or a proposal's). Its time
// is about how long the save holds the database's write lock.
func BenchmarkSaveNetworkState(b *testing.B) {
	ctx := context.Background()
	all := map[string][]byte{}
	for u := range 64 {
		p := make([]byte, 68<<10)
		for i := range p {
			p[i] = byte('a' + (i+u)%26)
		}
		all[fmt.Sprintf("user-%02d", u)] = p
	}
	for _, c := range []struct {
		name  string
		parts map[string][]byte
		all   bool
	}{{"whole", all, true}, {"one-partition", map[string][]byte{"user-00": all["user-00"]}, false}} {
		b.Run(c.name, func(b *testing.B) {
			s, _ := benchSessions(b, 0)
			epoch, err := s.ActivateNetwork(ctx, "o")
			if err != nil {
				b.Fatal(err)
			}
			st := persistence.NetworkState{Data: []byte(`{"active_user":"user-00"}`), Partitions: all, All: true}
			if err := s.SaveNetworkState(ctx, "o", epoch, st); err != nil {
				b.Fatal(err)
			}
			st.Partitions, st.All = c.parts, c.all
			n := 0
			for _, p := range c.parts {
				n += len(p)
			}
			b.SetBytes(int64(n))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.parts["user-00"][i%len(c.parts["user-00"])] ^= 1
				if err := s.SaveNetworkState(ctx, "o", epoch, st); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
