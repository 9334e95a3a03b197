package actors

import (
	"testing"
	"time"

	"github.com/semvec-go/semvec"
)

// An operation that waited longer than maxWait for its turn is refused
// (503) without starting, and the one after it still runs; without
// maxWait every operation runs in its turn.
func TestOneAtATimeRefusesAnOperationThatWaitedTooLong(t *testing.T) {
	for _, maxWait := range []time.Duration{0, time.Millisecond} {
		q := oneAtATime{maxWait: maxWait}
		var ran []int
		var refused []error
		var finishFirst func()
		q.run(func(finished func()) { ran = append(ran, 1); finishFirst = finished }, func(err error) { t.Fatal(err) })
		q.run(func(finished func()) { ran = append(ran, 2); finished() }, func(err error) { refused = append(refused, err) })
		time.Sleep(10 * maxWait) // the second waits past maxWait
		finishFirst()
		q.run(func(finished func()) { ran = append(ran, 3); finished() }, func(err error) { refused = append(refused, err) })
		if maxWait == 0 {
			if len(ran) != 3 || len(refused) != 0 {
				t.Fatalf("no maxWait: ran %v, refused %v", ran, refused)
			}
			continue
		}
		if len(ran) != 2 || ran[1] != 3 || len(refused) != 1 || semvec.KindOf(refused[0]) != semvec.KindUnavailable {
			t.Fatalf("maxWait %v: ran %v, refused %v; want 1 and 3 run, 2 refused with 503", maxWait, ran, refused)
		}
	}
}
