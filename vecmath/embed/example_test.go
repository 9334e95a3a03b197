package embed_test

import (
	"context"
	"fmt"

	"github.com/semvec-go/semvec/vecmath"
	"github.com/semvec-go/semvec/vecmath/embed"
)

func ExampleHashing() {
	h := embed.NewHashing(0) // 384-d
	vs, _ := h.Embed(context.Background(), []string{
		"How do I reset my password?",
		"how can I reset the password",
		"The weather in Paris is sunny today",
	})
	fmt.Println(h.Name(), h.Dim())
	fmt.Printf("paraphrase %.2f\n", vecmath.Cosine(vs[0], vs[1]))
	fmt.Printf("unrelated  %.2f\n", vecmath.Cosine(vs[0], vs[2]))
	// Output:
	// hashing-v1 384
	// paraphrase 1.00
	// unrelated  0.05
}

func ExampleFromEnv() {
	env := map[string]string{
		"SEMVEC_EMBEDDER":       "openai",
		"SEMVEC_EMBEDDER_URL":   "http://localhost:11434/v1",
		"SEMVEC_EMBEDDER_MODEL": "nomic-embed-text",
		"SEMVEC_EMBEDDER_DIM":   "768",
	}
	e, err := embed.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(e.Name(), e.Dim())

	_, err = embed.FromEnv(func(k string) string {
		return map[string]string{"SEMVEC_EMBEDDER_DIM": "abc"}[k]
	})
	fmt.Println(err)
	// Output:
	// nomic-embed-text 768
	// SEMVEC_EMBEDDER_DIM: must be a positive integer, got "abc"
}
