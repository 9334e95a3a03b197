package vecmath

// Scored is an index with a score, as returned by TopK.
type Scored struct {
	Index int     // position in the scores slice passed to TopK
	Score float32 // scores[Index]
}

// TopK returns the min(k, len(scores)) highest scores with their indices, in
// descending order of score. Ties keep the lower index first and NaN scores
// rank below every number (-Inf included), so the result is fully
// deterministic. It returns an empty slice when k <= 0.
//
// The result is written into buf when cap(buf) >= min(k, len(scores)), in
// which case TopK does not allocate; otherwise a new slice is allocated. It
// runs in O(n log k) time.
func TopK(scores []float32, k int, buf []Scored) []Scored {
	m := min(k, len(scores))
	if m <= 0 {
		return buf[:0]
	}
	h := buf[:0]
	if cap(h) < m {
		h = make([]Scored, 0, m)
	}
	h = h[:m]
	// h is a heap whose root is the worst of the best m seen so far.
	for i := range h {
		h[i] = Scored{Index: i, Score: scores[i]}
	}
	for i := m/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for i := m; i < len(scores); i++ {
		// A later index only beats the root on a strictly better score.
		if c := (Scored{Index: i, Score: scores[i]}); ranksBefore(c, h[0]) {
			h[0] = c
			siftDown(h, 0)
		}
	}
	// Heap sort: move the worst to the back until the best is at the front.
	for end := m - 1; end > 0; end-- {
		h[0], h[end] = h[end], h[0]
		siftDown(h[:end], 0)
	}
	return h
}

// ranksBefore is the strict total order of TopK: numbers before NaN, higher
// scores first, then lower indices.
func ranksBefore(x, y Scored) bool {
	xn, yn := x.Score != x.Score, y.Score != y.Score
	switch {
	case xn != yn:
		return yn
	case !xn && x.Score != y.Score:
		return x.Score > y.Score
	default:
		return x.Index < y.Index
	}
}

// siftDown restores the heap property below i: every parent ranks after its
// children, so the root is the worst element.
func siftDown(h []Scored, i int) {
	for {
		w := 2*i + 1
		if w >= len(h) {
			return
		}
		if r := w + 1; r < len(h) && ranksBefore(h[w], h[r]) {
			w = r
		}
		if !ranksBefore(h[i], h[w]) {
			return
		}
		h[i], h[w] = h[w], h[i]
		i = w
	}
}
