package embed

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/semvec-go/semvec/vecmath"
)

func embedOne(t testing.TB, e Embedder, text string) []float32 {
	t.Helper()
	vs, err := e.Embed(context.Background(), []string{text})
	if err != nil {
		t.Fatalf("Embed(%q): %v", text, err)
	}
	if len(vs) != 1 || len(vs[0]) != e.Dim() {
		t.Fatalf("Embed(%q) returned %d vectors of length %d", text, len(vs), len(vs[0]))
	}
	return vs[0]
}

func hashCos(t testing.TB, h *Hashing, a, b string) float32 {
	t.Helper()
	return vecmath.Cosine(embedOne(t, h, a), embedOne(t, h, b))
}

func TestHashingBasics(t *testing.T) {
	var _ Embedder = (*Hashing)(nil)
	for _, tt := range []struct {
		h    *Hashing
		want int
	}{{NewHashing(0), DefaultDim}, {NewHashing(-5), DefaultDim}, {NewHashing(768), 768}, {NewHashing(7), 7}, {&Hashing{}, DefaultDim}} {
		if tt.h.Dim() != tt.want {
			t.Errorf("Dim = %d, want %d", tt.h.Dim(), tt.want)
		}
		if tt.h.Name() != "hashing-v1" {
			t.Errorf("Name = %q", tt.h.Name())
		}
		v := embedOne(t, tt.h, "Some text to embed, with several words.")
		if n := vecmath.Norm(v); math.Abs(float64(n)-1) > 1e-6 {
			t.Errorf("dim %d: norm = %v, want 1", tt.want, n)
		}
	}
	vs, err := NewHashing(0).Embed(context.Background(), nil)
	if err != nil || len(vs) != 0 {
		t.Errorf("Embed(nil) = %v, %v", vs, err)
	}
}

func TestHashingDeterministic(t *testing.T) {
	texts := []string{"How do I reset my password?", "Grüße aus Köln — 東京 2024", "x"}
	a, _ := NewHashing(0).Embed(context.Background(), texts)
	h := NewHashing(0)
	for range 3 {
		b, _ := h.Embed(context.Background(), texts)
		for i := range texts {
			if vecmath.Checksum(a[i]) != vecmath.Checksum(b[i]) {
				t.Fatalf("%q: vectors differ between calls", texts[i])
			}
			if got := h.EmbedTo(nil, texts[i]); vecmath.Checksum(got) != vecmath.Checksum(a[i]) {
				t.Fatalf("%q: EmbedTo differs from Embed", texts[i])
			}
		}
	}
}

// TestHashingGolden pins hashing-v1: a change here changes every stored
// vector and needs a new Name.
func TestHashingGolden(t *testing.T) {
	v := NewHashing(0).EmbedTo(nil, "The quick brown fox jumps over the lazy dog. Don't panic!")
	const want = "8f4886a625c64e7ef857bbcaf3f0810da4a7fbe8097e6d88db9cb229c61a0e88"
	if got := vecmath.Checksum(v); got != want {
		t.Errorf("hashing-v1 vector changed: checksum %s, want %s", got, want)
	}
}

func TestHashingConcurrent(t *testing.T) {
	h := NewHashing(0)
	want := h.EmbedTo(nil, "concurrent embedding of the same sentence")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				got := h.EmbedTo(nil, "concurrent embedding of the same sentence")
				if vecmath.Checksum(got) != vecmath.Checksum(want) {
					t.Error("concurrent Embed returned a different vector")
					return
				}
				h.EmbedTo(nil, "some other text to disturb the scratch buffers")
			}
		})
	}
	wg.Wait()
}

func TestHashingEmptyText(t *testing.T) {
	h := NewHashing(0)
	for _, text := range []string{"", "   \t\n", "\u00a0\u3000"} {
		v := embedOne(t, h, text)
		if vecmath.Norm(v) != 0 {
			t.Errorf("%q: want the zero vector", text)
		}
	}
	// A text of symbols only has a vector of its own: "👍" can be stored
	// as an answer (before, it was the zero vector, and refused).
	seen := map[string]string{}
	for _, text := range []string{"?", "!!!", "?!… — ***", "🎉🎉", "👍", "\x00"} {
		v := embedOne(t, h, text)
		if math.Abs(float64(vecmath.Norm(v))-1) > 1e-6 {
			t.Errorf("%q: norm %v, want a unit vector", text, vecmath.Norm(v))
		}
		key := fmt.Sprint(v)
		if other, dup := seen[key]; dup {
			t.Errorf("%q and %q embed to the same vector", text, other)
		}
		seen[key] = text
		if w := embedOne(t, h, " "+text+"\n"); fmt.Sprint(w) != key {
			t.Errorf("%q: white space around symbols changed the vector", text)
		}
	}
	// Stop words alone still produce a vector.
	if v := embedOne(t, h, "Who are you?"); math.Abs(float64(vecmath.Norm(v))-1) > 1e-6 {
		t.Error(`"Who are you?" should not be the zero vector`)
	}
}

func TestHashingNearDuplicates(t *testing.T) {
	h := NewHashing(0)
	for _, p := range [][2]string{
		{"Hello, World!", "hello world"},
		{"How do I reset my password?", "HOW DO I RESET MY PASSWORD"},
		{"The deploy failed; rollback started.", "the deploy failed - rollback started"},
		{"I don't like it", "I dont like it!"},
		{"Привет, мир!", "привет мир"},
		{"ÉCOLE NORMALE", "école normale"},
	} {
		if c := hashCos(t, h, p[0], p[1]); c < 0.9 {
			t.Errorf("near-duplicates %q / %q: cos = %.3f, want >= 0.9", p[0], p[1], c)
		}
	}
	// A typo or an inflection keeps most character n-grams.
	for _, p := range [][2]string{
		{"The quick brown fox jumps over the lazy dog", "the quick brown fox jumped over the lazy dog"},
		{"database migration failed", "databse migration failed"},
	} {
		if c := hashCos(t, h, p[0], p[1]); c < 0.7 {
			t.Errorf("small edit %q / %q: cos = %.3f, want >= 0.7", p[0], p[1], c)
		}
	}
}

var (
	paraphrases = [][2]string{
		{"How do I reset my password?", "how can I reset the password"},
		{"I forgot my password and need to reset it", "How can I reset my password?"},
		{"The deployment failed because the database migration timed out", "database migration timeout broke the deployment"},
		{"What is the capital of France?", "Tell me the capital city of France"},
		{"Schedule a meeting with Alice next Tuesday", "set up a meeting with alice on tuesday"},
		{"My order has not arrived yet", "the order I placed still has not arrived"},
		{"Convert the temperature from Celsius to Fahrenheit", "how to convert celsius into fahrenheit"},
		{"The cat sat on the mat", "a cat was sitting on the mat"},
		{"Python list comprehension examples", "examples of list comprehensions in python"},
		{"cancel my subscription please", "I want to cancel the subscription"},
	}
	unrelated = [][2]string{
		{"How do I reset my password?", "The weather in Paris is sunny today"},
		{"Schedule a meeting with Alice next Tuesday", "Python list comprehension examples"},
		{"My order has not arrived yet", "The cat sat on the mat"},
		{"What is the capital of France?", "cancel my subscription please"},
		{"The deployment failed because the database migration timed out", "I love chocolate cake with strawberries"},
		{"Convert the temperature from Celsius to Fahrenheit", "My order has not arrived yet"},
		{"The quarterly revenue grew by twelve percent", "How do I reset my password?"},
		{"Photosynthesis converts sunlight into chemical energy", "Schedule a meeting with Alice next Tuesday"},
		{"The football match ended in a draw", "Python list comprehension examples"},
		{"Rust ownership and borrowing rules", "The weather in Paris is sunny today"},
	}
)

// TestHashingSimilarity: texts that share words score clearly above
// unrelated texts. Unrelated 384-d hashed vectors have cosine noise with a
// standard deviation of about 1/sqrt(384) ≈ 0.05, hence the margins.
func TestHashingSimilarity(t *testing.T) {
	h := NewHashing(0)
	if c := hashCos(t, h, "How do I reset my password?", "how can I reset the password"); c < 0.6 {
		t.Errorf("password paraphrase: cos = %.3f, want >= 0.6", c)
	}
	if c := hashCos(t, h, "How do I reset my password?", "The weather in Paris is sunny today"); c > 0.15 {
		t.Errorf("password vs weather: cos = %.3f, want <= 0.15", c)
	}
	minPara := float32(1)
	for _, p := range paraphrases {
		c := hashCos(t, h, p[0], p[1])
		minPara = min(minPara, c)
		if c < 0.55 {
			t.Errorf("paraphrase %q / %q: cos = %.3f, want >= 0.55", p[0], p[1], c)
		}
	}
	var sumAbs float32
	maxUnrel := float32(-1)
	for _, p := range unrelated {
		c := hashCos(t, h, p[0], p[1])
		sumAbs += max(c, -c)
		maxUnrel = max(maxUnrel, c)
		if c > 0.2 {
			t.Errorf("unrelated %q / %q: cos = %.3f, want <= 0.2", p[0], p[1], c)
		}
	}
	if mean := sumAbs / float32(len(unrelated)); mean > 0.08 {
		t.Errorf("mean |cos| of unrelated pairs = %.3f, want <= 0.08", mean)
	}
	if minPara <= maxUnrel+0.3 {
		t.Errorf("weakest paraphrase %.3f is not clearly above the closest unrelated pair %.3f", minPara, maxUnrel)
	}
}

func TestHashingEmbedToReusesBuffer(t *testing.T) {
	h := NewHashing(0)
	buf := make([]float32, 0, DefaultDim)
	v := h.EmbedTo(buf, "reuse my buffer")
	if &v[0] != &buf[:1][0] {
		t.Error("EmbedTo did not reuse a large enough buffer")
	}
	if raceEnabled {
		return
	}
	text := "The quick brown fox jumps over the lazy dog while the database migration times out again"
	if allocs := testing.AllocsPerRun(100, func() { h.EmbedTo(buf, text) }); allocs != 0 {
		t.Errorf("EmbedTo with a buffer allocates %v times", allocs)
	}
}

// FuzzHashing: any string gives a finite vector of length Dim with norm 0
// (no word) or 1, deterministically.
func FuzzHashing(f *testing.F) {
	for _, s := range []string{"", " ", "Hello, World!", "don't", "'''", "a\xffb", "東京タワー", "e\u0301cole", "ǅungla İstanbul", "1 2 3"} {
		f.Add(s)
	}
	h := NewHashing(0)
	f.Fuzz(func(t *testing.T, s string) {
		v := h.EmbedTo(nil, s)
		if len(v) != DefaultDim || !vecmath.Finite(v) {
			t.Fatalf("%q: bad vector (len %d, finite %v)", s, len(v), vecmath.Finite(v))
		}
		n := vecmath.Norm(v)
		if n != 0 && math.Abs(float64(n)-1) > 1e-5 {
			t.Fatalf("%q: norm = %v, want 0 or 1", s, n)
		}
		if n == 0 && hasWordRune(s) {
			t.Fatalf("%q has letters or digits but embeds to the zero vector", s)
		}
		if vecmath.Checksum(h.EmbedTo(nil, s)) != vecmath.Checksum(v) {
			t.Fatalf("%q: not deterministic", s)
		}
	})
}

func hasWordRune(s string) bool {
	var sc hashScratch
	sc.tokenize(s)
	return len(sc.words) > 0
}

const benchSentence = "Yesterday the team deployed the new billing service, but the database migration timed out " +
	"and customers in Europe could not reset their passwords until the rollback finished."

func BenchmarkHashingEmbed(b *testing.B) {
	h := NewHashing(0)
	texts := []string{benchSentence}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Embed(context.Background(), texts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHashingEmbedTo(b *testing.B) {
	h := NewHashing(0)
	buf := make([]float32, DefaultDim)
	b.ReportAllocs()
	for b.Loop() {
		buf = h.EmbedTo(buf, benchSentence)
	}
}

func TestHashingLongText(t *testing.T) {
	h := NewHashing(0)
	prefix := strings.Repeat("word ", MaxHashingText/5+1) // a bit longer than the limit
	a := h.EmbedTo(nil, prefix)
	b := h.EmbedTo(nil, prefix+strings.Repeat("ignored tail ", 10000))
	if vecmath.Checksum(a) != vecmath.Checksum(b) {
		t.Error("text beyond MaxHashingText changed the vector")
	}
}
