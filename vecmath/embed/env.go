package embed

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxDim is the largest dimension FromEnv accepts: the largest a session
// takes (engine.MaxDim in package actors/engine, which this package does
// not import; a test there keeps the two equal). A larger one started a
// server whose every session was refused.
const MaxDim = 8192

// Environment variables read by FromEnv.
const (
	EnvEmbedder = "SEMVEC_EMBEDDER"         // "hashing" (default) or "openai"
	EnvURL      = "SEMVEC_EMBEDDER_URL"     // openai: base or full embeddings URL
	EnvModel    = "SEMVEC_EMBEDDER_MODEL"   // openai: model name
	EnvAPIKey   = "SEMVEC_EMBEDDER_API_KEY" // openai: bearer token
	EnvDim      = "SEMVEC_EMBEDDER_DIM"     // vector length
	EnvTimeout  = "SEMVEC_EMBEDDER_TIMEOUT" // openai: per-request timeout (Go duration)
)

// FromEnv builds the Embedder the environment asks for; getenv is usually
// os.Getenv. The variables:
//
//   - SEMVEC_EMBEDDER: "hashing" or "openai" (case-insensitive). When unset,
//     it is "openai" if SEMVEC_EMBEDDER_URL is set and "hashing" otherwise.
//   - SEMVEC_EMBEDDER_URL: the OpenAI-compatible endpoint, base
//     (".../v1") or full (".../v1/embeddings"); required for openai.
//   - SEMVEC_EMBEDDER_MODEL, SEMVEC_EMBEDDER_API_KEY: for openai.
//   - SEMVEC_EMBEDDER_DIM: a positive integer up to MaxDim. Hashing uses it
//     as its dimension (default 384); openai enforces it on the responses
//     (default: learned from the first response).
//   - SEMVEC_EMBEDDER_TIMEOUT: per-request timeout for openai as a Go
//     duration such as "5s" (default 10s).
//
// An invalid value is an error that names the variable, for example
// `SEMVEC_EMBEDDER_DIM: must be a positive integer, got "abc"`.
func FromEnv(getenv func(string) string) (Embedder, error) {
	get := func(key string) string { return strings.TrimSpace(getenv(key)) }
	kind := strings.ToLower(get(EnvEmbedder))
	if kind == "" {
		kind = "hashing"
		if get(EnvURL) != "" {
			kind = "openai"
		}
	}

	dim := 0
	if v := get(EnvDim); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s: must be a positive integer, got %q", EnvDim, v)
		}
		if n > MaxDim {
			return nil, fmt.Errorf("%s: must be at most %d, got %d", EnvDim, MaxDim, n)
		}
		dim = n
	}

	switch kind {
	case "hashing":
		return NewHashing(dim), nil
	case "openai":
		if get(EnvURL) == "" {
			return nil, fmt.Errorf("%s: required when %s=openai", EnvURL, EnvEmbedder)
		}
		if _, err := embeddingsEndpoint(get(EnvURL)); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvURL, err)
		}
		var timeout time.Duration
		if v := get(EnvTimeout); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("%s: must be a positive duration such as \"10s\", got %q", EnvTimeout, v)
			}
			timeout = d
		}
		return NewOpenAI(OpenAIConfig{
			URL:     get(EnvURL),
			Model:   get(EnvModel),
			APIKey:  get(EnvAPIKey),
			Dim:     dim,
			Timeout: timeout,
		})
	default:
		return nil, fmt.Errorf("%s: must be \"hashing\" or \"openai\", got %q", EnvEmbedder, getenv(EnvEmbedder))
	}
}
