package actors

import (
	"math"
	"time"

	"github.com/semvec-go/semvec/vecmath"
)

// Aggregation modes of a cluster.
const (
	AggregationWeightedAverage = "weighted_average" // "G2a"
	AggregationAttention       = "attention"        // "G2b"
)

// ValidAggregationMode reports whether mode is one a cluster accepts.
func ValidAggregationMode(mode string) bool {
	return mode == AggregationWeightedAverage || mode == AggregationAttention
}

const (
	// recencyHalfLife: under weighted_average a member whose last turn is
	// this old counts half as much as one that just spoke.
	recencyHalfLife = time.Hour
	// attentionTemperature sharpens the attention weights:
	// softmax(cos(member, mean) / attentionTemperature).
	attentionTemperature = 0.1
)

// memberState is one member session's contribution to an aggregate.
type memberState struct {
	ID           string
	Vec          []float32 // unit length
	Interactions int       // interaction_count
	LastTurn     time.Time // zero when unknown
}

// aggregateWeights returns the (unnormalised, positive) weight of each
// member under mode.
//
// weighted_average ("newer evidence weighted higher"):
//
//	w_i = (1 + interactions_i) · 2^(−age_i / recencyHalfLife)
//
// where age_i is the time since the member's last turn (no decay when
// unknown). attention:
//
//	w = softmax(cos(v_i, m̄) / attentionTemperature), m̄ = the plain mean
//
// so members aligned with the group's centre dominate and outliers fade.
// When every weight underflows to 0 the members count equally.
func aggregateWeights(mode string, ms []memberState, now time.Time) []float64 {
	w := make([]float64, len(ms))
	if len(ms) == 0 {
		return w
	}
	switch mode {
	case AggregationAttention:
		dim := len(ms[0].Vec)
		vs := make([][]float32, len(ms))
		for i, m := range ms {
			vs[i] = m.Vec
		}
		mean := vecmath.Mean(make([]float32, dim), vs...)
		scores := make([]float64, len(ms))
		for i, m := range ms {
			scores[i] = float64(vecmath.Cosine(m.Vec, mean))
		}
		vecmath.Softmax(w, scores, attentionTemperature)
	default:
		for i, m := range ms {
			decay := 1.0
			if !m.LastTurn.IsZero() {
				if age := now.Sub(m.LastTurn); age > 0 {
					decay = math.Exp2(-age.Hours() / recencyHalfLife.Hours())
				}
			}
			w[i] = float64(1+max(m.Interactions, 0)) * decay
		}
	}
	var sum float64
	for _, x := range w {
		sum += x
	}
	if !(sum > 0) || math.IsInf(sum, 0) {
		for i := range w {
			w[i] = 1
		}
	}
	return w
}

// aggregate combines the members' vectors under mode into a unit vector of
// length dim: normalise(Σ w_i·v_i). It returns zeros when there is no member
// (or the weighted sum is the zero vector).
func aggregate(mode string, ms []memberState, dim int, now time.Time) []float32 {
	out := make([]float32, dim)
	if len(ms) == 0 {
		return out
	}
	w := aggregateWeights(mode, ms, now)
	acc := make([]float64, dim)
	for i, m := range ms {
		for j := 0; j < dim && j < len(m.Vec); j++ {
			acc[j] += w[i] * float64(m.Vec[j])
		}
	}
	return unit64(acc, out)
}

// meanUnit returns normalise(mean of vs), or nil when vs is empty or the
// mean is zero.
func meanUnit(vs [][]float32) []float32 {
	if len(vs) == 0 {
		return nil
	}
	dim := len(vs[0])
	acc := make([]float64, dim)
	for _, v := range vs {
		for j := 0; j < dim && j < len(v); j++ {
			acc[j] += float64(v[j])
		}
	}
	out := unit64(acc, make([]float32, dim))
	if isZero(out) {
		return nil
	}
	return out
}

// unit64 writes acc scaled to unit length into out (zeros when acc is zero or
// not finite) and returns out.
func unit64(acc []float64, out []float32) []float32 {
	var ss float64
	for _, x := range acc {
		ss += x * x
	}
	n := math.Sqrt(ss)
	if !(n > 0) || math.IsInf(n, 0) {
		clear(out)
		return out
	}
	for j, x := range acc {
		out[j] = float32(x / n)
	}
	return out
}

func isZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// unitDeltaNorm is ‖â − b̂‖ for the unit directions of a and b (0 when either
// is zero or their lengths differ).
func unitDeltaNorm(a, b []float32) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return 0
	}
	na, nb := float64(vecmath.Norm(a)), float64(vecmath.Norm(b))
	if !(na > 0) || !(nb > 0) {
		return 0
	}
	var ss float64
	for i := range a {
		d := float64(a[i])/na - float64(b[i])/nb
		ss += d * d
	}
	return math.Sqrt(ss)
}
