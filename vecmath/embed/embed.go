// Package embed turns text into vectors behind one small interface. The
// built-in Hashing embedder needs nothing; OpenAI talks to any
// OpenAI-compatible /v1/embeddings endpoint (OpenAI, Ollama, vLLM, TEI).
// FromEnv picks and configures one from SEMVEC_EMBEDDER* variables.
package embed

import "context"

// Embedder turns texts into L2-normalised vectors of length Dim().
// Embed returns one vector per text, in order. When the backend cannot serve,
// the error is a *semvec.Error of kind KindUnavailable.
//
// Implementations are safe for concurrent use. The returned vectors belong to
// the caller, who may modify them. A text with nothing to embed (Hashing: no
// letter or digit) may yield the zero vector, whose cosine with anything is 0.
type Embedder interface {
	Name() string
	Dim() int
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}
