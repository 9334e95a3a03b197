package embed

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Environment variables read by RerankerFromEnv.
const (
	EnvRerankerURL     = "SEMVEC_RERANKER_URL"     // base or full /rerank URL; unset: no reranker
	EnvRerankerAPIKey  = "SEMVEC_RERANKER_API_KEY" // bearer token
	EnvRerankerTimeout = "SEMVEC_RERANKER_TIMEOUT" // per-request timeout (Go duration)
)

// RerankerConfig configures a Reranker. Zero values select the defaults of
// OpenAIConfig (timeout 10s, 2 retries, a client of its own).
type RerankerConfig struct {
	// URL is the endpoint of a text-embeddings-inference style reranker:
	// a base URL such as "http://localhost:8081", to which "/rerank" is
	// appended, or the full URL ending in "/rerank". http or https.
	URL        string
	APIKey     string
	Timeout    time.Duration
	MaxRetries int
	HTTPClient *http.Client
}

// Reranker scores texts against a query with a cross-encoder served like
// Hugging Face text-embeddings-inference: it POSTs {"query": …, "texts":
// [...]} to /rerank and reads [{"index": i, "score": s}, …]. Timeouts,
// retries and errors are those of the OpenAI embedder: every failure is a
// *semvec.Error of kind KindUnavailable ("reranker unavailable: …"), which
// the HTTP layer answers 503.
//
// A Reranker is safe for concurrent use.
type Reranker struct {
	service
}

// NewReranker validates cfg and returns a client. It does not contact the
// service.
func NewReranker(cfg RerankerConfig) (*Reranker, error) {
	endpoint, err := rerankEndpoint(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("rerank: URL: %w", err)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("rerank: Timeout: must not be negative, got %v", cfg.Timeout)
	}
	return &Reranker{newService("reranking service", "reranker", endpoint, cfg.APIKey, cfg.Timeout, cfg.MaxRetries, cfg.HTTPClient)}, nil
}

// rerankEndpoint turns a base or full URL into the /rerank endpoint.
func rerankEndpoint(raw string) (string, error) { return endpointURL(raw, "/rerank") }

// RerankerFromEnv returns the Reranker SEMVEC_RERANKER_URL names, nil when
// it is unset. An invalid value is an error naming the variable.
func RerankerFromEnv(getenv func(string) string) (*Reranker, error) {
	raw := strings.TrimSpace(getenv(EnvRerankerURL))
	if raw == "" {
		return nil, nil
	}
	if _, err := rerankEndpoint(raw); err != nil {
		return nil, fmt.Errorf("%s: %w", EnvRerankerURL, err)
	}
	var timeout time.Duration
	if v := strings.TrimSpace(getenv(EnvRerankerTimeout)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s: must be a positive duration such as \"10s\", got %q", EnvRerankerTimeout, v)
		}
		timeout = d
	}
	return NewReranker(RerankerConfig{URL: raw, APIKey: strings.TrimSpace(getenv(EnvRerankerAPIKey)), Timeout: timeout})
}

type rerankRequest struct {
	Query string   `json:"query"`
	Texts []string `json:"texts"`
}

// Rerank returns one score per text, in the texts' order (higher is more
// relevant). No text means no request.
func (r *Reranker) Rerank(ctx context.Context, query string, texts []string) ([]float64, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	var scores []float64
	err := r.post(ctx, rerankRequest{Query: query, Texts: texts}, func(data []byte) error {
		var err error
		if scores, err = parseRerankResponse(data, len(texts)); err != nil {
			return r.unavailable(err, "malformed response from the reranking service")
		}
		return nil
	})
	return scores, err
}

// parseRerankResponse decodes [{"index": i, "score": s}, …] for n texts:
// every index once, scores finite.
func parseRerankResponse(data []byte, n int) ([]float64, error) {
	var items []struct {
		Index *int     `json:"index"`
		Score *float64 `json:"score"`
	}
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if len(items) != n {
		return nil, fmt.Errorf("%d scores for %d texts", len(items), n)
	}
	out := make([]float64, n)
	seen := make([]bool, n)
	for pos, it := range items {
		switch {
		case it.Index == nil || it.Score == nil:
			return nil, fmt.Errorf("entry %d lacks index or score", pos)
		case *it.Index < 0 || *it.Index >= n:
			return nil, fmt.Errorf("index %d out of range [0, %d)", *it.Index, n)
		case seen[*it.Index]:
			return nil, fmt.Errorf("index %d appears twice", *it.Index)
		}
		seen[*it.Index] = true
		out[*it.Index] = *it.Score
	}
	return out, nil
}
