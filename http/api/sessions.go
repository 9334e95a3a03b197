package api

import "encoding/json"

// ---------------------------------------------------------------- requests

// A field takes JSON null only when it is tagged nullable:"true": the fields
// the contract makes Optional (pydantic's `X | None = None`); every other
// field, required or with a default value, refuses null with a 422 (see the
// package doc for the rule).

// RunBody is the body of POST /v1/run (and /v1/cluster/{id}/run).
type RunBody struct {
	Message               string   `json:"message" binding:"required,notblank,max=32000"`
	SessionID             string   `json:"session_id,omitempty" nullable:"true" binding:"max=128" doc:"The session; none creates one. An unknown id is 404 unless reset_context is true: the session is then created under it, and the id must be letters, digits and . _ : - (not dots alone), at most 128 characters (else 422)."`
	Response              string   `json:"response,omitempty" nullable:"true" binding:"max=64000"`
	ShortCircuitThreshold *float64 `json:"short_circuit_threshold,omitempty" binding:"omitempty,gte=-1,lte=1" default:"0.85"`
	ResetContext          bool     `json:"reset_context,omitempty"`
}

// StoreBody is the body of POST /v1/store.
type StoreBody struct {
	SessionID string `json:"session_id" binding:"required,max=128"`
	Response  string `json:"response" binding:"required,notblank,max=64000"`
}

// SessionCreateBody is the body of POST /v1/session/create.
type SessionCreateBody struct {
	Dimension         *int           `json:"dimension,omitempty" nullable:"true" binding:"omitempty,gte=1"`
	ModelName         string         `json:"model_name,omitempty" nullable:"true" binding:"max=256,nonul"`
	UseAttention      bool           `json:"use_attention,omitempty"`
	UseCache          bool           `json:"use_cache,omitempty"`
	UseMetaPSS        bool           `json:"use_meta_pss,omitempty"`
	UseCortex         bool           `json:"use_cortex,omitempty"`
	EnableTopicSwitch *bool          `json:"enable_topic_switch,omitempty"`
	TemplateEmbedding []float32      `json:"template_embedding,omitempty" nullable:"true"`
	PolicyVectors     []PolicyVector `json:"policy_vectors,omitempty" nullable:"true" binding:"max=64,dive"`
	// The bounds are engine.MinContextTopK … MaxContextTopK and
	// MinContextBudgetChars … MaxContextBudgetChars (a test checks them);
	// the doc tags become the fields' descriptions in /openapi.json.
	ContextTopK        *int `json:"context_top_k,omitempty" nullable:"true" binding:"omitempty,gte=1,lte=100" doc:"How many memories this session's /v1/run context block holds (default: the server's SEMVEC_RUN_TOP_K, 5)."`
	ContextBudgetChars *int `json:"context_budget_chars,omitempty" nullable:"true" binding:"omitempty,gte=200,lte=65536" doc:"Character budget of this session's /v1/run context block (default: the server's SEMVEC_CONTEXT_BUDGET_CHARS, 1400); each memory line is still clipped to 200 characters."`
}

// PolicyVector is one policy vector of a new session.
type PolicyVector struct {
	Embedding []float32 `json:"embedding" binding:"required" doc:"A direction the session is biased towards (registered as a drift anchor); the session dimension."`
	Weight    *float64  `json:"weight,omitempty" binding:"omitempty,gt=0,lte=100" default:"1" doc:"The vector's share, relative to the session's other anchors, in the anchor centroid (retrieval bias, realignment pull) and the anchor score: the weighted means; anchors all of one weight act as unweighted ones."` // nil: not given; engine.MaxAnchorWeight
	Promote   bool      `json:"promote,omitempty" doc:"Only false (the default) is accepted: policy vectors promote no memories; true answers 422."`
}

// ContextQuery is the query of GET /v1/state/context.
type ContextQuery struct {
	SessionID string `form:"session_id" binding:"required,max=128"`
	TopK      *int   `form:"top_k" binding:"omitempty,gte=1,lte=100" default:"5"`
	FullFirst bool   `form:"full_first"`
}

// TriggerBody is the body of POST /v1/session/{id}/trigger: exactly one of
// keyword or embedding.
type TriggerBody struct {
	Keyword   string    `json:"keyword,omitempty" nullable:"true" binding:"max=256"`
	Embedding []float32 `json:"embedding,omitempty" nullable:"true"`
	Threshold *float64  `json:"threshold,omitempty" nullable:"true" binding:"omitempty,gt=0,lte=1"`
}

// AnchorBody is the body of POST /v1/session/{id}/anchor.
type AnchorBody struct {
	Embedding []float32 `json:"embedding" binding:"required"`
}

// IsolationBody is the body of PUT /v1/session/{id}/isolation.
type IsolationBody struct {
	Level               string      `json:"level" binding:"required,oneof=OPEN FILTER QUARANTINE LOCKDOWN"`
	ExclusionEmbeddings [][]float32 `json:"exclusion_embeddings,omitempty" nullable:"true" binding:"max=64"` // engine.DefaultConfig().MaxIsolationVectors
	AllowlistEmbeddings [][]float32 `json:"allowlist_embeddings,omitempty" nullable:"true" binding:"max=64"` // engine.DefaultConfig().MaxIsolationVectors
	SimilarityThreshold *float64    `json:"similarity_threshold,omitempty" nullable:"true" binding:"omitempty,gt=0,lte=1"`
}

// MemoryBody is the body of POST /v1/session/{id}/memory (a synthetic memory).
type MemoryBody struct {
	Embedding   []float32 `json:"embedding" binding:"required"`
	Text        string    `json:"text" binding:"required,max=64000"`
	Tier        string    `json:"tier,omitempty" binding:"omitempty,oneof=short_term medium_term long_term" default:"short_term"`
	Importance  *float64  `json:"importance,omitempty" binding:"omitempty,gt=0,lte=10" default:"1"`
	AccessCount int       `json:"access_count,omitempty" binding:"gte=0,lte=1000000"`
}

// ImportBody is the body of POST /v1/session/{id}/import.
type ImportBody struct {
	StateDict json.RawMessage `json:"state_dict" binding:"required"`
	Checksum  string          `json:"checksum,omitempty" nullable:"true" binding:"max=128"`
}

// VerifyBody is the body of POST /v1/session/{id}/verify.
type VerifyBody struct {
	TestEmbeddings     [][]float32 `json:"test_embeddings" binding:"required,min=1,max=256"`
	ReferenceSessionID string      `json:"reference_session_id,omitempty" nullable:"true" binding:"max=128"`
	Tolerance          *float64    `json:"tolerance,omitempty" binding:"omitempty,gt=0,lte=1" default:"0.001"`
}

// EntityBody is the body of POST /v1/session/{id}/entities.
type EntityBody struct {
	Key        string   `json:"key" binding:"required,max=256" doc:"The entity's key (at most 256 characters). It travels in DELETE's URL path, so a key a client could rewrite there is refused (422): white space at either end, control characters, '\\', '%', '?', '#', a leading or trailing '/', '//', and '.' or '..' segments; letters of any script, inner spaces, '.', ':', '/' between segments are fine (docs/sessions.md, Entity keys)."`
	Kind       string   `json:"kind" binding:"required"`
	Value      string   `json:"value" binding:"required,max=2000"`
	Context    string   `json:"context,omitempty" nullable:"true" binding:"max=1000"`
	Importance *float64 `json:"importance,omitempty" binding:"omitempty,gt=0,lte=10" default:"1"`
}

// EntitiesQuery is the query of GET /v1/session/{id}/entities.
type EntitiesQuery struct {
	Q          string `form:"q" binding:"max=2000"`
	MaxResults *int   `form:"max_results" binding:"omitempty,gte=1,lte=1000" doc:"At most this many entities (default: 50 with q, every entity without)."`
}

// ---------------------------------------------------------------- responses

// RunResult is the response of POST /v1/run and POST /v1/cluster/{id}/run.
type RunResult struct {
	SessionID     string  `json:"session_id"`
	Context       string  `json:"context"`
	TopSimilarity float64 `json:"top_similarity"`
	ShortCircuit  bool    `json:"short_circuit"`
	DriftScore    float64 `json:"drift_score"`
	DriftDetected bool    `json:"drift_detected"`
	DriftPhase    string  `json:"drift_phase"`
}

// StoreResult is the response of POST /v1/store.
type StoreResult struct {
	SessionID     string `json:"session_id"`
	Stored        bool   `json:"stored"`
	TotalMemories int32  `json:"total_memories"`
}

// SessionCreated is the response of POST /v1/session/create.
type SessionCreated struct {
	Created   bool   `json:"created"`
	Dimension int    `json:"dimension"`
	SessionID string `json:"session_id"`
}

// SessionDeleted is the response of DELETE /v1/session/{id}.
type SessionDeleted struct {
	Deleted   bool   `json:"deleted"`
	SessionID string `json:"session_id"`
}

// SessionMetrics is the response of GET /v1/metrics/{id}.
type SessionMetrics struct {
	BetaHistory       []float64        `json:"beta_history"`
	Dimension         int32            `json:"dimension"`
	DriftPhase        string           `json:"drift_phase"`
	DriftScore        float64          `json:"drift_score"`
	FSMHistory        []float64        `json:"fsm_history"`
	InteractionCount  int64            `json:"interaction_count"`
	NormHistory       []float64        `json:"norm_history"`
	Phase             string           `json:"phase"`
	PhaseHistory      []string         `json:"phase_history"`
	SessionID         string           `json:"session_id"`
	SimilarityHistory []float64        `json:"similarity_history"`
	Tiers             map[string]int32 `json:"tiers"`
	TotalMemories     int32            `json:"total_memories"`
}

// ContextItem is one memory of GET /v1/state/context.
type ContextItem struct {
	Text       string  `json:"text"`
	Relevance  float64 `json:"relevance"`
	MemoryHash string  `json:"memory_hash"`
	Truncated  bool    `json:"truncated"`
	Tier       string  `json:"tier"`
}

// Memory is the response of GET /v1/session/{id}/memories/{hash}.
type Memory struct {
	AccessCount int64   `json:"access_count"`
	Importance  float64 `json:"importance"`
	MemoryHash  string  `json:"memory_hash"`
	SessionID   string  `json:"session_id"`
	Text        string  `json:"text"`
	Tier        string  `json:"tier"`
	Timestamp   float64 `json:"timestamp"` // Unix seconds
}

// TriggerCount is the response of POST and DELETE /v1/session/{id}/trigger.
type TriggerCount struct {
	SessionID    string `json:"session_id"`
	TriggerCount int32  `json:"trigger_count"`
}

// AnchorCount is the response of POST /v1/session/{id}/anchor.
type AnchorCount struct {
	AnchorCount int32  `json:"anchor_count"`
	SessionID   string `json:"session_id"`
}

// AnchorScore is the response of GET /v1/session/{id}/anchor_score.
type AnchorScore struct {
	AnchorCount          int32   `json:"anchor_count"`
	AnchorScore          float64 `json:"anchor_score"`
	DriftThreshold       float64 `json:"drift_threshold"`
	RealignmentRemaining int32   `json:"realignment_remaining"`
	SessionID            string  `json:"session_id"`
}

// IsolationLevel is the response of PUT /v1/session/{id}/isolation.
type IsolationLevel struct {
	Level     string `json:"level"`
	SessionID string `json:"session_id"`
}

// IsolationReleased is the response of POST /v1/session/{id}/isolation/release.
type IsolationReleased struct {
	ReleasedCount int32  `json:"released_count"`
	SessionID     string `json:"session_id"`
}

// MemoryInjected is the response of POST /v1/session/{id}/memory.
type MemoryInjected struct {
	SessionID     string `json:"session_id"`
	Tier          string `json:"tier"`
	TotalMemories int32  `json:"total_memories"`
}

// SessionExport is the response of GET /v1/session/{id}/export; its
// state_dict and checksum are what POST /v1/session/{id}/import takes.
type SessionExport struct {
	Checksum  string          `json:"checksum"`
	SessionID string          `json:"session_id"`
	StateDict json.RawMessage `json:"state_dict"`
}

// SessionImported is the response of POST /v1/session/{id}/import.
type SessionImported struct {
	Imported  bool   `json:"imported"`
	SessionID string `json:"session_id"`
}

// SessionVerified is the response of POST /v1/session/{id}/verify.
type SessionVerified struct {
	Consistent bool   `json:"consistent"`
	SessionID  string `json:"session_id"`
}

// EntityStored is the response of POST /v1/session/{id}/entities.
type EntityStored struct {
	Key       string `json:"key"`
	SessionID string `json:"session_id"`
	Size      int32  `json:"size"`
}

// EntityItem is one literal-cache entry.
type EntityItem struct {
	Key         string  `json:"key"`
	Kind        string  `json:"kind"`
	Value       string  `json:"value"`
	Context     string  `json:"context"`
	Importance  float64 `json:"importance"`
	AccessCount int64   `json:"access_count"`
}

// EntityList is the response of GET /v1/session/{id}/entities.
type EntityList struct {
	Entities  []EntityItem `json:"entities"`
	SessionID string       `json:"session_id"`
	Total     int32        `json:"total"`
}

// EntityRemoved is the response of DELETE /v1/session/{id}/entities/{key}.
type EntityRemoved struct {
	Key       string `json:"key"`
	Removed   bool   `json:"removed"`
	SessionID string `json:"session_id"`
}
