package engine

import (
	"math"
	"strings"
	"time"

	semvec "github.com/semvec-go/semvec"
)

// Memory tiers.
const (
	tierShort = iota
	tierMedium
	tierLong
	numTiers
)

// Tier names as they appear on the wire.
const (
	TierShortTerm  = "short_term"
	TierMediumTerm = "medium_term"
	TierLongTerm   = "long_term"
)

// tierName is the wire name of tier index t.
func tierName(t int) string {
	switch t {
	case tierShort:
		return TierShortTerm
	case tierMedium:
		return TierMediumTerm
	}
	return TierLongTerm
}

func tierIndex(name string) (int, bool) {
	for t := range numTiers {
		if tierName(t) == name {
			return t, true
		}
	}
	return 0, false
}

// Importance and retention constants (see doc.go, "Tiers").
const (
	baseImportance    = 0.5  // a memory stored by a normal turn
	triggerImportance = 1.0  // a memory stored from a turn whose message fired a trigger
	DefaultImportance = 1.0  // InjectMemory and PutEntity when Importance is 0
	MaxImportance     = 10.0 // upper bound of every importance

	retentionImportance = 1.0  // w_i
	retentionAccess     = 0.3  // w_a, times ln(1+access_count)
	retentionRecency    = 0.5  // w_r, times exp(-age/recencyTurns)
	recencyTurns        = 10.0 // age is counted in accepted turns
	promoteFloor        = 0.6  // short-term evictees below this are forgotten
	clusterMergeSim     = 0.55 // a medium evictee joins a cluster at least this similar
	qaAnswerWeight      = 0.3  // Q&A key = normalise(q̂ + 0.3·â)
)

// memory is one stored item. Its key slice is never modified in place: a
// change allocates a new slice, so a Verify reference can share keys safely.
type memory struct {
	hash       string
	text       string
	key        []float32 // unit length
	tier       int
	importance float64
	access     int
	ts         time.Time
	turn       int    // turn index of creation or last dedup merge (recency)
	seq        uint64 // creation order
	merged     int    // items consolidated into it (1 for a plain memory)
}

// TotalMemories returns the number of memories over all tiers.
func (s *Session) TotalMemories() int {
	return len(s.tiers[tierShort]) + len(s.tiers[tierMedium]) + len(s.tiers[tierLong])
}

// eachMemory calls f for every memory in canonical order: short, medium,
// long, each in tier order. The index counts across tiers.
func (s *Session) eachMemory(f func(i int, m *memory)) {
	i := 0
	for _, tier := range s.tiers {
		for _, m := range tier {
			f(i, m)
			i++
		}
	}
}

// memoryAt returns the memory with canonical index i.
func (s *Session) memoryAt(i int) *memory {
	for _, tier := range s.tiers {
		if i < len(tier) {
			return tier[i]
		}
		i -= len(tier)
	}
	return nil
}

func (s *Session) findHash(h string) *memory {
	for _, tier := range s.tiers {
		for _, m := range tier {
			if m.hash == h {
				return m
			}
		}
	}
	return nil
}

func (s *Session) removeMemory(m *memory) {
	tier := s.tiers[m.tier]
	for i, x := range tier {
		if x == m {
			copy(tier[i:], tier[i+1:])
			tier[len(tier)-1] = nil
			s.tiers[m.tier] = tier[:len(tier)-1]
			return
		}
	}
}

// retention is importance·w_i + ln(1+access)·w_a + exp(-age/τ)·w_r.
func (s *Session) retention(m *memory) float64 {
	age := float64(max(0, s.turn-m.turn))
	return retentionImportance*m.importance +
		retentionAccess*math.Log1p(float64(m.access)) +
		retentionRecency*math.Exp(-age/recencyTurns)
}

// lowestRetention returns the tier member with the lowest retention other than
// protect (ties: the oldest in tier order).
func (s *Session) lowestRetention(tier int, protect *memory) *memory {
	var worst *memory
	worstR := math.Inf(1)
	for _, m := range s.tiers[tier] {
		if m == protect {
			continue
		}
		if r := s.retention(m); r < worstR {
			worst, worstR = m, r
		}
	}
	return worst
}

// addMemory stores text under key in the given tier, or merges it into the
// memory that already has the same normalised text (access_count+1,
// importance = max, timestamp = now, recency refreshed; tier and key kept).
// key must be unit length and is kept by reference (vectors are immutable).
func (s *Session) addMemory(text string, key []float32, importance float64, access int, tier int, now time.Time) {
	text = clipText(cleanText(text), s.cfg.MaxStoredChars)
	h := hashText(text)
	if m := s.findHash(h); m != nil {
		m.access++
		m.importance = math.Max(m.importance, importance)
		m.ts = now
		m.turn = s.turn
		return
	}
	m := &memory{hash: h, text: text, key: key, tier: tier, importance: importance,
		access: access, ts: now, turn: s.turn, seq: s.nextSeq, merged: 1}
	s.nextSeq++
	if tier == tierLong {
		s.consolidate(m)
	} else {
		s.tiers[tier] = append(s.tiers[tier], m)
	}
	s.rebalance(m)
}

// rebalance restores the tier caps after an insertion. The short-term member
// with the lowest retention is promoted to medium term when its retention is
// at least promoteFloor and forgotten otherwise; the medium-term member with
// the lowest retention is consolidated into long term. protect (the new
// memory) is never the one moved.
func (s *Session) rebalance(protect *memory) {
	for len(s.tiers[tierShort]) > s.cfg.ShortTermCap {
		m := s.lowestRetention(tierShort, protect)
		s.removeMemory(m)
		if s.retention(m) >= promoteFloor {
			m.tier = tierMedium
			s.tiers[tierMedium] = append(s.tiers[tierMedium], m)
		}
	}
	for len(s.tiers[tierMedium]) > s.cfg.MediumTermCap {
		m := s.lowestRetention(tierMedium, protect)
		s.removeMemory(m)
		s.consolidate(m)
	}
}

// consolidate moves m (already detached) into long term: as a new cluster when
// there is room and no cluster is at least clusterMergeSim similar, otherwise
// merged into the most similar cluster.
func (s *Session) consolidate(m *memory) {
	var best *memory
	bestSim := math.Inf(-1)
	for _, c := range s.tiers[tierLong] {
		if sim := cos(c.key, m.key); sim > bestSim {
			best, bestSim = c, sim
		}
	}
	if best == nil || (len(s.tiers[tierLong]) < s.cfg.LongTermCap && bestSim < clusterMergeSim) {
		m.tier = tierLong
		m.text = clipText(m.text, s.cfg.LongTermTextChars)
		m.hash = hashText(m.text)
		s.tiers[tierLong] = append(s.tiers[tierLong], m)
		s.fixCollision(m)
		return
	}
	text := best.text
	if !strings.Contains(normText(best.text), normText(m.text)) {
		text = clipText(best.text+"\n"+m.text, s.cfg.LongTermTextChars)
	}
	s.absorb(best, m)
	best.text = text
	best.hash = hashText(text)
	s.fixCollision(best)
}

// absorb folds src's statistics into dst: the key becomes the member-weighted
// centroid (a new slice), access counts add up, importance and recency take
// the maximum. dst keeps its text and tier; src must be detached by the caller.
func (s *Session) absorb(dst, src *memory) {
	wd, ws := float64(dst.merged), float64(src.merged)
	buf := s.scratch()
	for i := range buf {
		buf[i] = wd*float64(dst.key[i]) + ws*float64(src.key[i])
	}
	key := make([]float32, len(dst.key))
	if storeUnit(key, buf) {
		dst.key = key
	}
	dst.access += src.access
	dst.importance = math.Max(dst.importance, src.importance)
	if src.ts.After(dst.ts) {
		dst.ts = src.ts
	}
	dst.turn = max(dst.turn, src.turn)
	dst.merged += src.merged
}

// fixCollision keeps memory hashes unique: when m's (new) hash equals another
// memory's, the two texts are identical after normalisation and m is merged
// into the other one.
func (s *Session) fixCollision(m *memory) {
	for _, tier := range s.tiers {
		for _, o := range tier {
			if o != m && o.hash == m.hash {
				s.removeMemory(m)
				s.absorb(o, m)
				return
			}
		}
	}
}

// MemoryView is the expanded form of one memory.
type MemoryView struct {
	MemoryHash  string
	Text        string
	Tier        string
	Importance  float64
	AccessCount int
	Timestamp   time.Time
}

// Memory returns the memory with the given hash. Expanding a memory is a read:
// it does not count as an access. A long-term cluster's hash changes when
// another item is merged into it.
func (s *Session) Memory(hash string) (MemoryView, bool) {
	m := s.findHash(hash)
	if m == nil {
		return MemoryView{}, false
	}
	return MemoryView{MemoryHash: m.hash, Text: m.text, Tier: tierName(m.tier),
		Importance: m.importance, AccessCount: m.access, Timestamp: m.ts}, true
}

// InjectInput is a synthetic memory for InjectMemory.
type InjectInput struct {
	Text        string
	Embedding   []float32
	Tier        string  // short_term | medium_term | long_term; "" means short_term
	Importance  float64 // [0, 10]; 0 means DefaultImportance (1.0)
	AccessCount int     // >= 0
	Now         time.Time
}

// InjectMemory stores a memory directly, bypassing the state update, the
// isolation filter and the pending question. Identical text merges into the
// existing memory. Injecting into a full long-term tier merges into the most
// similar cluster. It returns the total number of memories.
func (s *Session) InjectMemory(in InjectInput) (total int, err error) {
	if strings.TrimSpace(in.Text) == "" {
		return 0, semvec.FieldError("text", "must not be empty")
	}
	if err := checkVec("embedding", in.Embedding, s.cfg.Dim); err != nil {
		return 0, err
	}
	name := in.Tier
	if name == "" {
		name = TierShortTerm
	}
	tier, ok := tierIndex(name)
	if !ok {
		return 0, semvec.FieldError("tier", "must be one of short_term, medium_term, long_term")
	}
	imp, err := importanceOrDefault(in.Importance)
	if err != nil {
		return 0, err
	}
	if in.AccessCount < 0 {
		return 0, semvec.FieldError("access_count", "must not be negative")
	}
	s.addMemory(in.Text, unitCopy(in.Embedding), imp, in.AccessCount, tier, canonTime(in.Now))
	return s.TotalMemories(), nil
}

// importanceOrDefault validates an importance in [0, 10]; 0 means 1.0.
func importanceOrDefault(v float64) (float64, error) {
	if !finite(v) || v < 0 || v > MaxImportance {
		return 0, semvec.FieldError("importance", "must be between 0 and 10")
	}
	if v == 0 {
		return DefaultImportance, nil
	}
	return v, nil
}

// scoreMemories fills s.scores with cos(key, q) (+ the anchor bias when
// anchors exist) for every memory in canonical order and returns it.
func (s *Session) scoreMemories(q []float32, anchorBias bool) []float32 {
	n := s.TotalMemories()
	if cap(s.scores) < n {
		s.scores = make([]float32, n, s.cfg.ShortTermCap+s.cfg.MediumTermCap+s.cfg.LongTermCap)
	}
	s.scores = s.scores[:n]
	s.eachMemory(func(i int, m *memory) {
		sc := cos(m.key, q)
		if anchorBias && s.anchorCentroid != nil {
			sc += anchorRetrievalBias * cos(m.key, s.anchorCentroid)
		}
		s.scores[i] = float32(sc)
	})
	return s.scores
}

// topK returns the indices of the k highest scores, best first; ties keep the
// lower index. It allocates only the result.
func topK(scores []float32, k int) []int {
	if k > len(scores) {
		k = len(scores)
	}
	out := make([]int, 0, k)
	for i, sc := range scores {
		pos := len(out)
		for pos > 0 && scores[out[pos-1]] < sc {
			pos--
		}
		if pos >= k {
			continue
		}
		if len(out) < k {
			out = append(out, 0)
		}
		copy(out[pos+1:], out[pos:len(out)-1])
		out[pos] = i
	}
	return out
}
