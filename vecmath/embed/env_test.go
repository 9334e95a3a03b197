package embed

import (
	"strings"
	"testing"
	"time"
)

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, e Embedder)
		wantErr string // substring; "" means success
	}{
		{name: "default is hashing 384", env: nil, check: func(t *testing.T, e Embedder) {
			if h, ok := e.(*Hashing); !ok || h.Dim() != 384 || h.Name() != "hashing-v1" {
				t.Errorf("got %T dim %d", e, e.Dim())
			}
		}},
		{name: "hashing with dim", env: map[string]string{EnvEmbedder: " Hashing ", EnvDim: "768"}, check: func(t *testing.T, e Embedder) {
			if _, ok := e.(*Hashing); !ok || e.Dim() != 768 {
				t.Errorf("got %T dim %d", e, e.Dim())
			}
		}},
		{name: "explicit hashing ignores URL", env: map[string]string{EnvEmbedder: "hashing", EnvURL: "http://x/v1"}, check: func(t *testing.T, e Embedder) {
			if _, ok := e.(*Hashing); !ok {
				t.Errorf("got %T", e)
			}
		}},
		{name: "openai", env: map[string]string{EnvEmbedder: "OPENAI", EnvURL: "http://localhost:11434/v1", EnvModel: "nomic-embed-text", EnvAPIKey: "k", EnvDim: "768", EnvTimeout: "2s"}, check: func(t *testing.T, e Embedder) {
			o, ok := e.(*OpenAI)
			if !ok {
				t.Fatalf("got %T", e)
			}
			if o.endpoint != "http://localhost:11434/v1/embeddings" || o.model != "nomic-embed-text" || o.apiKey != "k" || o.Dim() != 768 || o.timeout != 2*time.Second {
				t.Errorf("config not applied: %+v", o)
			}
			if o.maxRetries != DefaultMaxRetries || o.batchSize != DefaultBatchSize || o.cache == nil {
				t.Errorf("defaults not applied: %+v", o)
			}
		}},
		{name: "URL alone selects openai", env: map[string]string{EnvURL: "https://api.openai.com/v1/embeddings"}, check: func(t *testing.T, e Embedder) {
			if o, ok := e.(*OpenAI); !ok || o.Dim() != 0 || o.timeout != DefaultTimeout {
				t.Errorf("got %T", e)
			}
		}},
		{name: "unknown embedder", env: map[string]string{EnvEmbedder: "bert"}, wantErr: `SEMVEC_EMBEDDER: must be "hashing" or "openai", got "bert"`},
		{name: "dim not a number", env: map[string]string{EnvDim: "abc"}, wantErr: `SEMVEC_EMBEDDER_DIM: must be a positive integer, got "abc"`},
		{name: "dim zero", env: map[string]string{EnvDim: "0"}, wantErr: `SEMVEC_EMBEDDER_DIM: must be a positive integer, got "0"`},
		{name: "dim negative", env: map[string]string{EnvEmbedder: "openai", EnvURL: "http://x/v1", EnvDim: "-3"}, wantErr: "SEMVEC_EMBEDDER_DIM: must be a positive integer"},
		{name: "dim too large", env: map[string]string{EnvDim: "100000000"}, wantErr: "SEMVEC_EMBEDDER_DIM: must be at most 8192"},
		{name: "openai without URL", env: map[string]string{EnvEmbedder: "openai"}, wantErr: "SEMVEC_EMBEDDER_URL: required"},
		{name: "openai bad URL", env: map[string]string{EnvEmbedder: "openai", EnvURL: "tcp://embedder:7071"}, wantErr: "SEMVEC_EMBEDDER_URL: must be an http:// or https:// URL"},
		{name: "bad timeout", env: map[string]string{EnvURL: "http://x/v1", EnvTimeout: "10"}, wantErr: `SEMVEC_EMBEDDER_TIMEOUT: must be a positive duration such as "10s", got "10"`},
		{name: "negative timeout", env: map[string]string{EnvURL: "http://x/v1", EnvTimeout: "-1s"}, wantErr: "SEMVEC_EMBEDDER_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := FromEnv(envFrom(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, e)
		})
	}
}

func TestFromEnvDoesNotEchoAPIKey(t *testing.T) {
	_, err := FromEnv(envFrom(map[string]string{EnvEmbedder: "openai", EnvURL: "http://user:hunter2@/v1", EnvAPIKey: "sk-SECRET"}))
	if err == nil {
		t.Fatal("want an error for a URL without host")
	}
	if s := err.Error(); strings.Contains(s, "SECRET") || strings.Contains(s, "hunter2") {
		t.Errorf("error leaks a secret: %v", err)
	}
}
