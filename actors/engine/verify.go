package engine

import (
	"math"

	semvec "github.com/semvec-go/semvec"
)

// DefaultVerifyTolerance is used by Verify when tolerance is 0.
const DefaultVerifyTolerance = 1e-3

// Verify is the behavioural consistency probe. It reports whether, for every
// test vector t, |cos(s.state, t) − cos(ref.state, t)| <= tolerance and the
// top memory (highest cos(key, t), ties to the lower canonical index) has the
// same hash in both (both empty counts as equal). An uninitialized state has
// cosine 0. With ref == nil the reference is the state as of the last Export
// or Import of s; if neither happened, s is compared with itself and the probe
// is trivially consistent. A reference of another dimension is inconsistent.
// tolerance 0 means DefaultVerifyTolerance. Verify changes nothing.
func (s *Session) Verify(tests [][]float32, ref *Session, tolerance float64) (bool, error) {
	if len(tests) == 0 {
		return false, semvec.FieldError("test_embeddings", "must not be empty")
	}
	if err := checkVecs("test_embeddings", tests, s.cfg.Dim); err != nil {
		return false, err
	}
	if tolerance == 0 {
		tolerance = DefaultVerifyTolerance
	}
	if !finite(tolerance) || tolerance < 0 {
		return false, semvec.FieldError("tolerance", "must be a non-negative number")
	}
	var other *verifyRef
	switch {
	case ref != nil && ref.cfg.Dim != s.cfg.Dim:
		return false, nil
	case ref != nil:
		other = ref.takeRef()
	case s.ref != nil:
		other = s.ref
	default:
		return true, nil
	}
	mine := s.takeRef()
	buf := getScratch()
	defer buf.put()
	for _, t := range tests {
		if math.Abs(mine.cos(t)-other.cos(t)) > tolerance {
			return false, nil
		}
		q := quantizeInto(codesBuf(&buf.q, len(t)), t) // scale-invariant: t as given
		if mine.top(q) != other.top(q) {
			return false, nil
		}
	}
	return true, nil
}

func (r *verifyRef) cos(t []float32) float64 {
	if r.state == nil {
		return 0
	}
	return cos(r.state, t)
}

// top returns the hash of the memory most similar to q ("" without memories).
func (r *verifyRef) top(q qvec) string {
	best, hash := math.Inf(-1), ""
	for _, e := range r.entries {
		if c := float64(cosQ(e.key, q)); c > best {
			best, hash = c, e.hash
		}
	}
	return hash
}
