package engine

import (
	semvec "github.com/semvec-go/semvec"
)

// Config is the fixed configuration of one session. It travels inside every
// export; an import is held to the server's configuration, which the
// imported session takes (see ImportWith), so a session exported and
// imported on the same server behaves exactly like the original. Build it
// with DefaultConfig and adjust fields; New panics on a config that fails
// Validate.
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

	// Memory policy (see doc.go, "Retention" and "Retrieval"). Each part can
	// be switched off on its own; all are on by default. Snapshots of format
	// semvec-go/2, which predate them, load with the defaults.
	FocusLine      bool    `json:"focus_line,omitempty"`       // true: a shown cluster's line starts with its item that best matches the message
	InfoImportance bool    `json:"info_importance,omitempty"`  // true: a Q&A memory whose answer brings new words is more important
	AccessHalfLife int     `json:"access_half_life,omitempty"` // 20 turns: accesses count for retention with this half-life; 0: forever
	ForgetLowValue bool    `json:"forget_low_value,omitempty"` // true: an unimportant, unused medium-term evictee is dropped, not consolidated
	LexicalWeight  float64 `json:"lexical_weight,omitempty"`   // 0.3: weight of the normalised BM25 score in the context ranking; 0: cosine only
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
	}.WithMemoryPolicy()
}

// Defaults of the memory policy.
const (
	DefaultAccessHalfLife = 20  // turns
	DefaultLexicalWeight  = 0.3 // of the normalised BM25 score
	maxLexicalWeight      = 10
)

// WithMemoryPolicy returns c with every part of the memory policy at its
// default (on).
func (c Config) WithMemoryPolicy() Config {
	c.FocusLine, c.InfoImportance, c.ForgetLowValue = true, true, true
	c.AccessHalfLife, c.LexicalWeight = DefaultAccessHalfLife, DefaultLexicalWeight
	return c
}

// WithoutMemoryPolicy returns c with every part of the memory policy off:
// the engine of format semvec-go/2 (cosine ranking, accesses that never
// fade, every evictee consolidated, the stored text line as it is).
func (c Config) WithoutMemoryPolicy() Config {
	c.FocusLine, c.InfoImportance, c.ForgetLowValue = false, false, false
	c.AccessHalfLife, c.LexicalWeight = 0, 0
	return c
}

// Bounds of the two context knobs a deployment (SEMVEC_RUN_TOP_K,
// SEMVEC_CONTEXT_BUDGET_CHARS) and a session (POST /v1/session/create) may
// set. Every line of the block is clipped to MaxMemoryChars, so a budget far
// above top-k·MaxMemoryChars buys nothing.
const (
	MinContextTopK        = 1
	MaxContextTopK        = 100
	MinContextBudgetChars = 200
	MaxContextBudgetChars = 65536
)

// Limits that keep a configuration (and therefore an imported snapshot) from
// asking for absurd amounts of memory.
const (
	MaxDim      = 8192
	maxCapLimit = 4096
)

// maxTriggerKeywordChars bounds a resonance trigger's keyword.
const maxTriggerKeywordChars = 256

// Validate reports the first field that is out of range as a KindValidation
// error naming the field, and refuses (field "config") a configuration under
// which a session could grow past what a snapshot may hold: every state a
// session can reach under a valid configuration encodes (MarshalBinary)
// within MaxSnapshotBytes, so it can always be loaded back.
func (c Config) Validate() error {
	if err := c.validateRanges(); err != nil {
		return err
	}
	if b := c.binaryBound(); b > MaxSnapshotBytes {
		return semvec.FieldError("config", "a full session would need up to %d bytes, more than the %d a snapshot may hold; lower the caps or the dimension",
			b, MaxSnapshotBytes)
	}
	return nil
}

// validateRanges is Validate without the snapshot-size bound. Snapshots
// written before that bound existed are still decoded with it.
func (c Config) validateRanges() error {
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
		{"context_top_k", c.ContextTopK, MinContextTopK, MaxContextTopK},
		{"max_memory_chars", c.MaxMemoryChars, 20, 1 << 20},
		{"max_last_response_chars", c.MaxLastResponseChars, 0, 1 << 20},
		{"context_budget_chars", c.ContextBudgetChars, MinContextBudgetChars, MaxContextBudgetChars},
		{"max_stored_chars", c.MaxStoredChars, 50, 1 << 22},
		{"long_term_text_chars", c.LongTermTextChars, 50, 1 << 22},
		{"max_entities", c.MaxEntities, 0, maxCapLimit},
		{"max_triggers", c.MaxTriggers, 0, maxCapLimit},
		{"max_anchors", c.MaxAnchors, 0, maxCapLimit},
		{"max_isolation_vectors", c.MaxIsolationVectors, 0, maxCapLimit},
		{"shadow_cap", c.ShadowCap, 0, maxCapLimit},
		{"access_half_life", c.AccessHalfLife, 0, maxCapLimit},
	}
	for _, ch := range checks {
		if ch.v < ch.min || ch.v > ch.max {
			return semvec.FieldError(ch.name, "must be between %d and %d, got %d", ch.min, ch.max, ch.v)
		}
	}
	if !finite(c.LexicalWeight) || c.LexicalWeight < 0 || c.LexicalWeight > maxLexicalWeight {
		return semvec.FieldError("lexical_weight", "must be between 0 and %d, got %v", maxLexicalWeight, c.LexicalWeight)
	}
	return nil
}

// Worst-case sizes of the parts of an encoded snapshot, for the bounds below.
const (
	jsonCharBytes  = 6        // one character escaped by encoding/json ("\u003c" for '<')
	jsonFloatBytes = 16       // one float32 in JSON with its comma ("-1.2345678e-38,")
	jsonCodeBytes  = 5        // one int8 code in JSON with its comma ("-127,")
	varintBytes    = 10       // a length prefix of the binary format
	itemBytes      = 512      // field names, numbers, hash and timestamp of one list item
	historyBytes   = 6 * 32   // one entry of each of the six per-turn histories
	fixedBytes     = 16 << 10 // the fixed fields, magic, CRC and the histories' names
)

// snapshotParts counts, for the largest session c allows, the characters of
// text, the list items, the float32 vectors and the int8 code vectors of its
// snapshot, the Verify reference of the binary form included.
func (c Config) snapshotParts() (chars, items, floats, codes int) {
	mems := c.ShortTermCap + c.MediumTermCap + c.LongTermCap
	chars = mems*max(c.MaxStoredChars, c.LongTermTextChars) + // memories
		c.MaxStoredChars + c.MaxLastResponseChars + // pending question, last answer
		2*c.ShadowCap*c.MaxStoredChars + // quarantined messages and answers
		c.MaxTriggers*maxTriggerKeywordChars +
		c.MaxEntities*(maxEntityKeyChars+maxEntityValueChars+maxEntityContextChars)
	items = 2*mems + c.MaxTriggers + 2*c.MaxAnchors + 2*c.MaxIsolationVectors + c.ShadowCap + c.MaxEntities + // an anchor and its weight
		driftRecentCap
	floats = 2 + c.MaxTriggers + c.MaxAnchors + 2*c.MaxIsolationVectors // state and reference state
	codes = 1 + driftRecentCap + 2*mems + 2*c.ShadowCap                 // pending, recent, keys and reference keys, shadow
	return chars, items, floats, codes
}

// binaryBound is an upper bound on len(MarshalBinary()) for every session
// under c.
func (c Config) binaryBound() int {
	chars, items, floats, codes := c.snapshotParts()
	return fixedBytes + c.HistoryLen*historyBytes + chars*jsonCharBytes + items*itemBytes +
		floats*(4*c.Dim+varintBytes) + codes*(c.Dim+varintBytes)
}

// ExportBound is an upper bound on the length of Export's state_dict for
// every session under c. Vectors are text there, so at large dimensions a
// full session may not fit MaxSnapshotBytes; Export then refuses.
func (c Config) ExportBound() int {
	chars, items, floats, codes := c.snapshotParts()
	return fixedBytes + c.HistoryLen*historyBytes + chars*jsonCharBytes + items*itemBytes +
		floats*(jsonFloatBytes*c.Dim+2) + codes*(jsonCodeBytes*c.Dim+2)
}

// configLimit is one numeric field of a Config, by its JSON name.
type configLimit struct {
	name string
	v    int
}

// limits lists every cap and limit of c except the dimension, in
// declaration order. An imported config may not exceed the server's in any.
// The two context knobs, context_top_k and context_budget_chars, are not
// among them: a session chooses them (within MaxContextTopK and
// MaxContextBudgetChars) and keeps them through an export and import.
func (c Config) limits() []configLimit {
	return []configLimit{
		{"short_term_cap", c.ShortTermCap}, {"medium_term_cap", c.MediumTermCap}, {"long_term_cap", c.LongTermCap},
		{"history_len", c.HistoryLen}, {"max_memory_chars", c.MaxMemoryChars},
		{"max_last_response_chars", c.MaxLastResponseChars},
		{"max_stored_chars", c.MaxStoredChars}, {"long_term_text_chars", c.LongTermTextChars},
		{"max_entities", c.MaxEntities}, {"max_triggers", c.MaxTriggers}, {"max_anchors", c.MaxAnchors},
		{"max_isolation_vectors", c.MaxIsolationVectors}, {"shadow_cap", c.ShadowCap},
	}
}
