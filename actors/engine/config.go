package engine

import (
	semvec "github.com/semvec-go/semvec"
)

// Config is the fixed configuration of one session. It travels inside every
// export, so an imported session behaves exactly like the one that was
// exported. Build it with DefaultConfig and adjust fields; New panics on a
// config that fails Validate.
type Config struct {
	Dim                  int  `json:"dim"`                     // vector dimension (384)
	ShortTermCap         int  `json:"short_term_cap"`          // 15 memories
	MediumTermCap        int  `json:"medium_term_cap"`         // 30 memories
	LongTermCap          int  `json:"long_term_cap"`           // 20 consolidated clusters
	HistoryLen           int  `json:"history_len"`             // 64 entries per per-turn history
	ContextTopK          int  `json:"context_top_k"`           // 5 memories in the context block
	MaxMemoryChars       int  `json:"max_memory_chars"`        // 200 characters per context line
	MaxLastResponseChars int  `json:"max_last_response_chars"` // 500 characters of the previous answer
	ContextBudgetChars   int  `json:"context_budget_chars"`    // 1400: hard cap on the whole context block
	MaxStoredChars       int  `json:"max_stored_chars"`        // 2000: cap on the text of one short/medium memory
	LongTermTextChars    int  `json:"long_term_text_chars"`    // 600: cap on the merged text of a long-term cluster
	MaxEntities          int  `json:"max_entities"`            // 256 literal-cache entries
	MaxTriggers          int  `json:"max_triggers"`            // 64 resonance triggers
	MaxAnchors           int  `json:"max_anchors"`             // 64 drift anchors
	MaxIsolationVectors  int  `json:"max_isolation_vectors"`   // 64 exclusion and 64 allowlist vectors
	ShadowCap            int  `json:"shadow_cap"`              // 64 quarantined messages
	EnableTopicSwitch    bool `json:"enable_topic_switch"`     // true: a drifted turn moves the state faster
	UseAttention         bool `json:"use_attention"`           // false: softmax-weighted pattern pull when true
}

// DefaultConfig returns the default configuration for vectors of dimension dim.
func DefaultConfig(dim int) Config {
	return Config{
		Dim:                  dim,
		ShortTermCap:         15,
		MediumTermCap:        30,
		LongTermCap:          20,
		HistoryLen:           64,
		ContextTopK:          5,
		MaxMemoryChars:       200,
		MaxLastResponseChars: 500,
		ContextBudgetChars:   1400,
		MaxStoredChars:       2000,
		LongTermTextChars:    600,
		MaxEntities:          256,
		MaxTriggers:          64,
		MaxAnchors:           64,
		MaxIsolationVectors:  64,
		ShadowCap:            64,
		EnableTopicSwitch:    true,
	}
}

// Limits that keep a configuration (and therefore an imported snapshot) from
// asking for absurd amounts of memory.
const (
	MaxDim      = 8192
	maxCapLimit = 4096
)

// Validate reports the first field that is out of range as a KindValidation
// error naming the field.
func (c Config) Validate() error {
	checks := []struct {
		name     string
		v        int
		min, max int
	}{
		{"dimension", c.Dim, 1, MaxDim},
		{"short_term_cap", c.ShortTermCap, 1, maxCapLimit},
		{"medium_term_cap", c.MediumTermCap, 1, maxCapLimit},
		{"long_term_cap", c.LongTermCap, 1, maxCapLimit},
		{"history_len", c.HistoryLen, 1, maxCapLimit},
		{"context_top_k", c.ContextTopK, 1, 100},
		{"max_memory_chars", c.MaxMemoryChars, 20, 1 << 20},
		{"max_last_response_chars", c.MaxLastResponseChars, 0, 1 << 20},
		{"context_budget_chars", c.ContextBudgetChars, 200, 1 << 22},
		{"max_stored_chars", c.MaxStoredChars, 50, 1 << 22},
		{"long_term_text_chars", c.LongTermTextChars, 50, 1 << 22},
		{"max_entities", c.MaxEntities, 0, maxCapLimit},
		{"max_triggers", c.MaxTriggers, 0, maxCapLimit},
		{"max_anchors", c.MaxAnchors, 0, maxCapLimit},
		{"max_isolation_vectors", c.MaxIsolationVectors, 0, maxCapLimit},
		{"shadow_cap", c.ShadowCap, 0, maxCapLimit},
	}
	for _, ch := range checks {
		if ch.v < ch.min || ch.v > ch.max {
			return semvec.FieldError(ch.name, "must be between %d and %d, got %d", ch.min, ch.max, ch.v)
		}
	}
	return nil
}
