package engine

import (
	"slices"
	"strings"

	semvec "github.com/semvec-go/semvec"
)

// DefaultTriggerThreshold is the embedding-trigger threshold used when
// Trigger.Threshold is 0.
const DefaultTriggerThreshold = 0.8

// anchorRetrievalBias is added to a memory's retrieval score times
// cos(key, anchor centroid).
const anchorRetrievalBias = 0.1

// Trigger is a resonance trigger: exactly one of Keyword (case-insensitive
// substring of the message) or Embedding (cos(message, Embedding) >=
// Threshold). A matching turn uses β = 0.05 and the memory stored from it gets
// importance 1.0.
type Trigger struct {
	Keyword   string
	Embedding []float32
	Threshold float64 // (0, 1]; 0 means DefaultTriggerThreshold
}

type trigger struct {
	keyword   string // as given
	lower     string // lower-cased keyword for matching
	embedding []float32
	threshold float64
}

// AddTrigger registers a trigger and returns the trigger count. A keyword
// that equals an existing one (ignoring case) replaces it. When MaxTriggers
// are registered the error is KindConflict.
func (s *Session) AddTrigger(t Trigger) (count int, err error) {
	clean := cleanText(t.Keyword)
	kw := own(strings.TrimSpace(clean), clean)
	hasKW, hasEmb := kw != "", len(t.Embedding) > 0
	if hasKW == hasEmb {
		return len(s.triggers), semvec.FieldError("keyword", "exactly one of keyword or embedding is required")
	}
	th := t.Threshold
	if th == 0 {
		th = DefaultTriggerThreshold
	}
	if !finite(th) || th <= 0 || th > 1 {
		return len(s.triggers), semvec.FieldError("threshold", "must be in (0, 1]")
	}
	nt := trigger{threshold: th}
	if hasKW {
		if runeLen(kw) > maxTriggerKeywordChars {
			return len(s.triggers), semvec.FieldError("keyword", "must be at most %d characters", maxTriggerKeywordChars)
		}
		nt.keyword, nt.lower = kw, strings.ToLower(kw)
		for i, old := range s.triggers {
			if old.lower != "" && old.lower == nt.lower {
				s.triggers[i] = nt
				return len(s.triggers), nil
			}
		}
	} else {
		if err := checkVec("embedding", t.Embedding, s.cfg.Dim); err != nil {
			return len(s.triggers), err
		}
		nt.embedding = unitCopy(t.Embedding)
	}
	if len(s.triggers) >= s.cfg.MaxTriggers {
		return len(s.triggers), semvec.Errorf(semvec.KindConflict, "trigger limit reached (%d)", s.cfg.MaxTriggers)
	}
	s.triggers = append(s.triggers, nt)
	return len(s.triggers), nil
}

// ClearTriggers removes every trigger and returns the count afterwards (0).
func (s *Session) ClearTriggers() int {
	s.triggers = nil
	return 0
}

// TriggerCount returns the number of registered triggers.
func (s *Session) TriggerCount() int { return len(s.triggers) }

// triggerMatch reports whether any trigger fires on the message.
func (s *Session) triggerMatch(text string, x []float32) bool {
	if len(s.triggers) == 0 {
		return false
	}
	lower := ""
	for _, t := range s.triggers {
		if t.lower != "" {
			if lower == "" {
				lower = strings.ToLower(text)
			}
			if strings.Contains(lower, t.lower) {
				return true
			}
		} else if cos(x, t.embedding) >= t.threshold {
			return true
		}
	}
	return false
}

// AddAnchor registers a drift anchor of weight 1 and returns the anchor
// count (see AddWeightedAnchor).
func (s *Session) AddAnchor(v []float32) (count int, err error) {
	return s.AddWeightedAnchor(v, 1)
}

// MaxAnchorWeight bounds an anchor's weight (a policy vector's).
const MaxAnchorWeight = 100

// AddWeightedAnchor registers a drift anchor of weight w (0 < w ≤
// MaxAnchorWeight) and returns the anchor count. Anchors bias retrieval
// towards their centroid and pull the state back when the anchor score
// falls below the drift threshold; an anchor's weight is its share in both,
// relative to the others' (the centroid is the weighted mean of the unit
// anchors, the score the weighted mean of the state's cosines to them), so
// anchors all of one weight act as unweighted ones. When MaxAnchors are
// registered the error is KindConflict.
func (s *Session) AddWeightedAnchor(v []float32, w float64) (count int, err error) {
	if err := checkVec("embedding", v, s.cfg.Dim); err != nil {
		return len(s.anchors), err
	}
	if !(w > 0 && w <= MaxAnchorWeight) { // NaN too
		return len(s.anchors), semvec.FieldError("weight", "weight must be greater than 0 and at most %d", MaxAnchorWeight)
	}
	if len(s.anchors) >= s.cfg.MaxAnchors {
		return len(s.anchors), semvec.Errorf(semvec.KindConflict, "anchor limit reached (%d)", s.cfg.MaxAnchors)
	}
	if w != 1 && s.anchorWeights == nil {
		s.anchorWeights = make([]float64, len(s.anchors), len(s.anchors)+1)
		for i := range s.anchorWeights {
			s.anchorWeights[i] = 1
		}
	}
	if s.anchorWeights != nil {
		s.anchorWeights = append(s.anchorWeights, w)
	}
	s.anchors = append(s.anchors, unitCopy(v))
	s.setAnchorCentroid()
	return len(s.anchors), nil
}

// anchorWeight is anchor i's weight.
func (s *Session) anchorWeight(i int) float64 {
	if s.anchorWeights == nil {
		return 1
	}
	return s.anchorWeights[i]
}

// setAnchorCentroid recomputes the anchor centroid, its quantised form and
// every memory's cached cosine to it.
func (s *Session) setAnchorCentroid() {
	s.anchorCentroid = centroid(s.anchors, s.anchorWeights, s.cfg.Dim)
	s.anchorQ = qvec{}
	if s.anchorCentroid != nil {
		s.anchorQ = quantize(s.anchorCentroid)
	}
	s.eachMemory(func(_ int, m *memory) { m.anchorCos = s.anchorCos(m.key) })
}

// centroid is the unit-length mean of vs, weighted by weights (nil: every
// weight 1); nil when vs is empty or cancels out.
func centroid(vs [][]float32, weights []float64, dim int) []float32 {
	if len(vs) == 0 {
		return nil
	}
	// Weights are relative: scaled so that the largest is 1, a sum of
	// tiny weights (any w > 0 is valid) neither underflows to nothing nor
	// loses precision when it is normalised.
	top := 1.0
	if weights != nil {
		top = slices.Max(weights)
	}
	buf := make([]float64, dim)
	for j, v := range vs {
		w := 1.0
		if weights != nil {
			w = weights[j] / top
		}
		for i, x := range v {
			buf[i] += w * float64(x)
		}
	}
	out := make([]float32, dim)
	if !storeUnit(out, buf) {
		return nil
	}
	return out
}

// AnchorScore is the anchor report of a session.
type AnchorScore struct {
	Score                float64 // mean cos(state, anchor), weighted by the anchors' weights; 0 without state or anchors
	Count                int
	DriftThreshold       float64 // 0.5
	RealignmentRemaining int     // turns of realignment pull left
}

// AnchorScore returns the current anchor score.
func (s *Session) AnchorScore() AnchorScore {
	return AnchorScore{Score: s.anchorScore(), Count: len(s.anchors),
		DriftThreshold: AnchorDriftMin, RealignmentRemaining: s.realign}
}

func (s *Session) anchorScore() float64 {
	if !s.initialized || len(s.anchors) == 0 {
		return 0
	}
	top := 1.0 // weights relative to the largest, as in centroid
	if s.anchorWeights != nil {
		top = slices.Max(s.anchorWeights)
	}
	var sum, total float64
	for i, a := range s.anchors {
		w := s.anchorWeight(i) / top
		sum += w * cos(s.state, a)
		total += w
	}
	return sum / total
}
