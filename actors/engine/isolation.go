package engine

import (
	"time"

	semvec "github.com/semvec-go/semvec"
)

// Isolation levels.
const (
	LevelOpen       = "OPEN"
	LevelFilter     = "FILTER"
	LevelQuarantine = "QUARANTINE"
	LevelLockdown   = "LOCKDOWN"
)

// DefaultIsolationThreshold is used when IsolationPolicy.Threshold is 0.
const DefaultIsolationThreshold = 0.8

// IsolationPolicy is the input filter of a session. Under FILTER and
// QUARANTINE a message is stopped when cos(message, e) >= Threshold for any
// exclusion vector e, or, when an allowlist exists, cos(message, a) <
// Threshold for every allowlist vector a. LOCKDOWN stops everything.
type IsolationPolicy struct {
	Level     string // OPEN | FILTER | QUARANTINE | LOCKDOWN, exact
	Exclusion [][]float32
	Allowlist [][]float32
	Threshold float64 // (0, 1]; 0 means DefaultIsolationThreshold
}

type isolationPolicy struct {
	level     string
	exclusion [][]float32
	allowlist [][]float32
	threshold float64
}

// shadowItem is a quarantined message, with the answer that came back for it.
// The vectors are int8 like memory keys; answerVec is empty without an answer.
type shadowItem struct {
	text      string
	vec       qvec
	at        time.Time
	answer    string
	answerVec qvec
}

func validLevel(l string) bool {
	switch l {
	case LevelOpen, LevelFilter, LevelQuarantine, LevelLockdown:
		return true
	}
	return false
}

// SetIsolation replaces the isolation policy. The shadow buffer is kept; it is
// emptied only by ReleaseQuarantine or Reset.
func (s *Session) SetIsolation(p IsolationPolicy) error {
	if !validLevel(p.Level) {
		return semvec.FieldError("level", "must be one of OPEN, FILTER, QUARANTINE, LOCKDOWN")
	}
	th := p.Threshold
	if th == 0 {
		th = DefaultIsolationThreshold
	}
	if !finite(th) || th <= 0 || th > 1 {
		return semvec.FieldError("similarity_threshold", "must be in (0, 1]")
	}
	if len(p.Exclusion) > s.cfg.MaxIsolationVectors {
		return semvec.FieldError("exclusion_embeddings", "at most %d vectors", s.cfg.MaxIsolationVectors)
	}
	if len(p.Allowlist) > s.cfg.MaxIsolationVectors {
		return semvec.FieldError("allowlist_embeddings", "at most %d vectors", s.cfg.MaxIsolationVectors)
	}
	if err := checkVecs("exclusion_embeddings", p.Exclusion, s.cfg.Dim); err != nil {
		return err
	}
	if err := checkVecs("allowlist_embeddings", p.Allowlist, s.cfg.Dim); err != nil {
		return err
	}
	np := isolationPolicy{level: p.Level, threshold: th}
	for _, v := range p.Exclusion {
		np.exclusion = append(np.exclusion, unitCopy(v))
	}
	for _, v := range p.Allowlist {
		np.allowlist = append(np.allowlist, unitCopy(v))
	}
	s.iso = np
	return nil
}

// Isolation returns a copy of the policy (vectors as stored: unit length).
func (s *Session) Isolation() IsolationPolicy {
	return IsolationPolicy{Level: s.iso.level, Exclusion: cloneVV(s.iso.exclusion),
		Allowlist: cloneVV(s.iso.allowlist), Threshold: s.iso.threshold}
}

// QuarantineCount returns the number of messages in the shadow buffer.
func (s *Session) QuarantineCount() int { return len(s.shadow) }

// verdict classifies a message: "" (passes), filtered, quarantined or blocked.
func (p *isolationPolicy) verdict(x []float32) string {
	switch p.level {
	case LevelLockdown:
		return VerdictBlocked
	case LevelFilter, LevelQuarantine:
		if !p.excluded(x) {
			return ""
		}
		if p.level == LevelFilter {
			return VerdictFiltered
		}
		return VerdictQuarantined
	}
	return ""
}

func (p *isolationPolicy) excluded(x []float32) bool {
	for _, e := range p.exclusion {
		if cos(x, e) >= p.threshold {
			return true
		}
	}
	if len(p.allowlist) == 0 {
		return false
	}
	for _, a := range p.allowlist {
		if cos(x, a) >= p.threshold {
			return false
		}
	}
	return true
}

// quarantine appends a message to the shadow buffer, dropping the oldest entry
// when it is full.
func (s *Session) quarantine(text string, x []float32, now time.Time) {
	item := shadowItem{text: clipText(text, s.cfg.MaxStoredChars), vec: quantize(x), at: now}
	if len(s.shadow) >= s.cfg.ShadowCap {
		copy(s.shadow, s.shadow[1:])
		s.shadow = s.shadow[:len(s.shadow)-1]
	}
	s.shadow = append(s.shadow, item)
}

// ReleaseQuarantine replays the shadow buffer in arrival order: each message is
// folded into the state as an accepted turn (turn counter, histories and phase
// advance; drift is not measured) and stored as a memory — a Q&A pair when its
// answer arrived, "U: …" otherwise. The pending question is left alone. It
// returns the number released.
func (s *Session) ReleaseQuarantine(now time.Time) int {
	now = canonTime(now)
	items := s.shadow
	s.shadow = nil
	if s.blocked == blockShadowed {
		s.blocked = blockNone
	}
	buf := getScratch()
	defer buf.put()
	for _, it := range items {
		x := it.vec.unitInto(make([]float32, s.cfg.Dim))
		trig := s.triggerMatch(it.text, x)
		imp := baseImportance
		if trig {
			imp = triggerImportance
		}
		if it.answerVec.ok() {
			s.addMemory(qaText(it.text, it.answer), qaKeyCodes(make([]int8, len(x)), it.vec, it.answerVec.unitInto(make([]float32, len(x)))), imp, 0, tierShort, now)
		} else {
			s.addMemory("U: "+it.text, it.vec, imp, 0, tierShort, now) // the item's codes are free now
		}
		scores := s.scoreMemories(buf.sc[:0], it.vec)
		s.fold(x, s.stateCos(x), trig, 0, maxScore(scores), scores)
		s.pushRecentQ(it.vec) // a copy
	}
	return len(items)
}
