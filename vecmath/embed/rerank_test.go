package embed

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
)

// rerankStandIn answers like TEI's /rerank: scores by how many query words
// a text holds, sorted best first (TEI's order), after fail503 failures.
func rerankStandIn(t *testing.T, fail503 int32) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.URL.Path != "/rerank" || r.Method != http.MethodPost {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if n <= fail503 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var req rerankRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		type item struct {
			Index int     `json:"index"`
			Score float64 `json:"score"`
		}
		var out []item
		for i, text := range req.Texts {
			sc := 0.0
			for _, w := range strings.Fields(req.Query) {
				if strings.Contains(text, w) {
					sc++
				}
			}
			out = append(out, item{i, sc})
		}
		for i := 1; i < len(out); i++ {
			for j := i; j > 0 && out[j].Score > out[j-1].Score; j-- {
				out[j], out[j-1] = out[j-1], out[j]
			}
		}
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestRerankerScoresInTextOrder(t *testing.T) {
	srv, _ := rerankStandIn(t, 0)
	r, err := NewReranker(RerankerConfig{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	scores, err := r.Rerank(context.Background(), "ferry island gate", []string{"the moon", "island ferry gate", "a ferry"})
	if err != nil {
		t.Fatal(err)
	}
	if len(scores) != 3 || scores[0] != 0 || scores[1] != 3 || scores[2] != 1 {
		t.Fatalf("scores %v", scores)
	}
	if s, err := r.Rerank(context.Background(), "q", nil); s != nil || err != nil {
		t.Fatalf("no texts: %v %v", s, err)
	}
}

func TestRerankerRetriesAndFails503(t *testing.T) {
	srv, calls := rerankStandIn(t, 2)
	r, _ := NewReranker(RerankerConfig{URL: srv.URL + "/rerank"})
	r.baseDelay = time.Millisecond
	if _, err := r.Rerank(context.Background(), "a", []string{"a"}); err != nil || calls.Load() != 3 {
		t.Fatalf("two 503s then success: %v after %d calls", err, calls.Load())
	}
	srv2, calls2 := rerankStandIn(t, 100)
	r2, _ := NewReranker(RerankerConfig{URL: srv2.URL})
	r2.baseDelay = time.Millisecond
	_, err := r2.Rerank(context.Background(), "a", []string{"a"})
	if semvec.KindOf(err) != semvec.KindUnavailable || calls2.Load() != 1+DefaultMaxRetries ||
		!strings.Contains(err.Error(), "reranker unavailable: reranking service answered HTTP 503 (3 attempts)") {
		t.Fatalf("always 503: %v after %d calls", err, calls2.Load())
	}
}

func TestRerankerFailures(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("case") {
		case "400":
			http.Error(w, "bad", http.StatusBadRequest)
		case "short":
			w.Write([]byte(`[{"index":0,"score":1}]`))
		case "slow":
			time.Sleep(200 * time.Millisecond)
			w.Write([]byte(`[{"index":0,"score":1},{"index":1,"score":0}]`))
		default:
			w.Write([]byte(`[{"index":0,"score":1},{"index":0,"score":2}]`))
		}
	}))
	defer bad.Close()
	for _, c := range []string{"400", "short", "dup", "slow"} {
		// The query string goes before the appended /rerank: use a full URL.
		r, err := NewReranker(RerankerConfig{URL: bad.URL + "/rerank?case=" + c, Timeout: 50 * time.Millisecond, MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Rerank(context.Background(), "q", []string{"a", "b"}); semvec.KindOf(err) != semvec.KindUnavailable {
			t.Errorf("%s: %v", c, err)
		}
	}
}

func TestRerankerFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	if r, err := RerankerFromEnv(env()); r != nil || err != nil {
		t.Fatalf("unset: %v %v", r, err)
	}
	if r, err := RerankerFromEnv(env(EnvRerankerURL, "http://tei:8081")); err != nil || r.endpoint != "http://tei:8081/rerank" {
		t.Fatalf("base URL: %v %v", r, err)
	}
	for _, kv := range [][]string{{EnvRerankerURL, "ftp://x"}, {EnvRerankerURL, "http://x", EnvRerankerTimeout, "soon"}} {
		if _, err := RerankerFromEnv(env(kv...)); err == nil || !strings.HasPrefix(err.Error(), kv[len(kv)-2]+":") {
			t.Errorf("%v: %v", kv, err)
		}
	}
}
