package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/vecmath"
)

// Defaults of OpenAIConfig.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultMaxRetries = 2
	DefaultBatchSize  = 64
	DefaultCacheSize  = 4096
)

// Retry pacing and response limits.
const (
	retryBaseDelay   = 100 * time.Millisecond
	retryMaxDelay    = 2 * time.Second
	maxRetryAfter    = 30 * time.Second // cap on a server's Retry-After
	maxResponseBytes = 64 << 20
	maxErrorSnippet  = 512
)

// OpenAIConfig configures an OpenAI client. Zero values select the
// documented defaults.
type OpenAIConfig struct {
	// URL is the embeddings endpoint: either a base URL such as
	// "http://localhost:11434/v1" (Ollama) or "https://api.openai.com/v1",
	// to which "/embeddings" is appended, or the full URL ending in
	// "/embeddings". Required; http or https.
	URL string
	// Model is sent as "model" (omitted when empty, for servers such as TEI
	// that serve one model). It is part of the cache key.
	Model string
	// APIKey, when set, is sent as "Authorization: Bearer <APIKey>". It
	// never appears in errors.
	APIKey string
	// Dim is the expected vector length. 0 learns it from the first response
	// and enforces it afterwards.
	Dim int
	// Timeout bounds each HTTP attempt (default 10s). The caller's context
	// bounds the whole call, retries included.
	Timeout time.Duration
	// MaxRetries is the number of retries after a failed attempt (default
	// 2; negative disables retries). Network errors, HTTP 429 and 5xx are
	// retried with exponential back-off and jitter; other errors are not.
	MaxRetries int
	// BatchSize is the maximum number of texts per request (default 64).
	BatchSize int
	// CacheSize is the number of (model, text) embeddings kept in an LRU
	// cache (default 4096; negative disables the cache).
	CacheSize int
	// HTTPClient, if set, sends the requests; by default a client with its
	// own connection pool is used.
	HTTPClient *http.Client
}

// OpenAI is an Embedder backed by an OpenAI-compatible embeddings endpoint
// (OpenAI, Ollama, vLLM, Hugging Face TEI, LiteLLM …). It POSTs
// {"model": …, "input": [...]} in batches, orders the results by their
// "index", L2-normalises every vector, and caches them by (model, text).
//
// Every failure — unreachable service, HTTP error after retries, malformed
// response, wrong dimension, cancelled context — is a *semvec.Error of kind
// semvec.KindUnavailable whose Detail is safe to show to clients; the cause,
// for the logs, is in its Err.
//
// An OpenAI is safe for concurrent use.
type OpenAI struct {
	service
	model     string
	batchSize int
	cache     *lruCache // nil when disabled
	dim       atomic.Int64
	pings     pingCache
}

// service is an HTTP JSON endpoint called with bounded attempts, retries
// with back-off and client-safe KindUnavailable errors: the machinery the
// OpenAI embedder and the Reranker share.
type service struct {
	what       string // the service in error details: "embedding service"
	role       string // the error prefix: "embedder"
	endpoint   string
	apiKey     string
	timeout    time.Duration
	maxRetries int
	client     *http.Client
	baseDelay  time.Duration // first retry delay; tests shorten it
}

// NewOpenAI validates cfg and returns a client. It does not contact the
// service; use Ping for that.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	endpoint, err := embeddingsEndpoint(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("embed: URL: %w", err)
	}
	if cfg.Dim < 0 {
		return nil, fmt.Errorf("embed: Dim: must not be negative, got %d", cfg.Dim)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("embed: Timeout: must not be negative, got %v", cfg.Timeout)
	}
	o := &OpenAI{
		service:   newService("embedding service", "embedder", endpoint, cfg.APIKey, cfg.Timeout, cfg.MaxRetries, cfg.HTTPClient),
		model:     cfg.Model,
		batchSize: cfg.BatchSize,
	}
	if o.batchSize <= 0 {
		o.batchSize = DefaultBatchSize
	}
	if size := cmpOr(cfg.CacheSize, DefaultCacheSize); size > 0 {
		o.cache = newLRUCache(size)
	}
	o.dim.Store(int64(cfg.Dim))
	return o, nil
}

// newService applies the defaults: DefaultTimeout, DefaultMaxRetries
// (negative: none) and a client with its own connection pool.
func newService(what, role, endpoint, apiKey string, timeout time.Duration, maxRetries int, client *http.Client) service {
	if client == nil {
		client = defaultHTTPClient()
	}
	return service{what: what, role: role, endpoint: endpoint, apiKey: apiKey, timeout: cmpOr(timeout, DefaultTimeout),
		maxRetries: max(0, cmpOr(maxRetries, DefaultMaxRetries)), client: client, baseDelay: retryBaseDelay}
}

// cmpOr returns v, or def when v is zero.
func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func defaultHTTPClient() *http.Client {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t = t.Clone()
		t.MaxIdleConnsPerHost = 16 // many concurrent requests go to one host
		return &http.Client{Transport: t}
	}
	return &http.Client{}
}

// embeddingsEndpoint turns a base or full URL into the embeddings endpoint.
func embeddingsEndpoint(raw string) (string, error) { return endpointURL(raw, "/embeddings") }

// endpointURL turns a base or full http(s) URL into the endpoint whose path
// ends in suffix.
func endpointURL(raw, suffix string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("required")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("must be an http:// or https:// URL, got %q", redactURL(raw))
	}
	u.Path = strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(u.Path, suffix) {
		u.Path += suffix
	}
	u.RawPath = ""
	return u.String(), nil
}

// redactURL hides a password in a URL that is about to appear in an error.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}

// Name returns the model name, or "openai" when none is configured.
func (o *OpenAI) Name() string {
	if o.model == "" {
		return "openai"
	}
	return o.model
}

// Dim returns the vector length: the configured Dim, or the length learned
// from the first successful response (0 until then).
func (o *OpenAI) Dim() int { return int(o.dim.Load()) }

// Embed returns one L2-normalised vector per text, in order. Cached texts
// cost nothing; the rest are sent in batches of BatchSize, one batch after
// another, with each distinct text sent once. Texts are sent as they are;
// whether an empty text is accepted is up to the service.
func (o *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	// The texts to fetch, each once, with the positions that want it.
	var (
		missing []string
		keys    []cacheKey
		where   [][]int
		seen    map[cacheKey]int
	)
	for i, t := range texts {
		k := makeCacheKey(o.model, t)
		if o.cache != nil {
			if v, ok := o.cache.get(k); ok {
				out[i] = v
				continue
			}
		}
		if j, ok := seen[k]; ok {
			where[j] = append(where[j], i)
			continue
		}
		if seen == nil {
			seen = make(map[cacheKey]int)
		}
		seen[k] = len(missing)
		missing = append(missing, t)
		keys = append(keys, k)
		where = append(where, []int{i})
	}
	for start := 0; start < len(missing); start += o.batchSize {
		end := min(start+o.batchSize, len(missing))
		vecs, err := o.fetch(ctx, missing[start:end])
		if err != nil {
			return nil, err
		}
		for j, v := range vecs {
			if o.cache != nil {
				o.cache.add(keys[start+j], v)
			}
			for n, i := range where[start+j] {
				if n > 0 {
					v = append([]float32(nil), v...) // every position owns its vector
				}
				out[i] = v
			}
		}
	}
	return out, nil
}

// Ping embeds a short text, bypassing the embedding cache, to check that
// the service answers with vectors of the expected dimension (and to learn
// it when Dim is 0). It suits a readiness probe, which anyone may call
// without a token: a check's outcome is reused for pingTTL, and Pings
// arriving while one runs wait for it, so probes cannot spend the
// operator's embedding quota (500 probes a second had made 500 paid calls,
// three each when the service answered 429).
func (o *OpenAI) Ping(ctx context.Context) error {
	return o.pings.do(ctx, func(ctx context.Context) error {
		_, err := o.fetch(ctx, []string{"ping"})
		return err
	})
}

// pingTTL is how long a Ping's outcome is reused; pingTimeout bounds one
// check, which runs to it even when the caller that started it goes away.
const (
	pingTTL     = 5 * time.Second
	pingTimeout = 5 * time.Second
)

// pingCache runs one check at a time and reuses its outcome for pingTTL.
type pingCache struct {
	mu      sync.Mutex
	at      time.Time     // when the last check ended; zero: none yet
	err     error         // its outcome
	running chan struct{} // closed when the check under way ends; nil: none
}

// do returns the last outcome if it is recent, else waits (as long as ctx
// allows) for the check under way, starting one if none is. The check is
// everyone's: it runs on a goroutine of its own to its own deadline,
// whatever happens to the caller that started it (a probe that hangs up
// must not cache "unavailable" for every other caller).
func (p *pingCache) do(ctx context.Context, check func(context.Context) error) error {
	p.mu.Lock()
	if !p.at.IsZero() && time.Since(p.at) < pingTTL {
		defer p.mu.Unlock()
		return p.err
	}
	running := p.running
	if running == nil {
		running = make(chan struct{})
		p.running = running
		go func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pingTimeout)
			defer cancel()
			err := check(cctx)
			p.mu.Lock()
			p.at, p.err, p.running = time.Now(), err, nil
			p.mu.Unlock()
			close(running)
		}()
	}
	p.mu.Unlock()
	select {
	case <-running:
	case <-ctx.Done():
	}
	if err := ctx.Err(); err != nil { // gone, even when the check ended at the same time
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// fetch embeds one batch, retrying transient failures.
func (o *OpenAI) fetch(ctx context.Context, texts []string) ([][]float32, error) {
	var vecs [][]float32
	err := o.post(ctx, embeddingsRequest{Model: o.model, Input: texts}, func(data []byte) error {
		var err error
		vecs, err = parseEmbeddingsResponse(data, len(texts))
		if err != nil {
			return o.unavailable(err, "malformed response from the embedding service")
		}
		if len(texts) == 0 {
			return nil
		}
		got := int64(len(vecs[0]))
		o.dim.CompareAndSwap(0, got) // learn the dimension from the first response
		if want := o.dim.Load(); got != want {
			return o.unavailable(nil, fmt.Sprintf("embedding service returned %d-dimensional vectors, expected %d", got, want))
		}
		for _, v := range vecs {
			vecmath.Normalize(v)
		}
		return nil
	})
	return vecs, err
}

// post sends req as JSON and hands the response body to decode, retrying
// transient failures (network errors, HTTP 429 and 5xx; never decode's).
func (sv *service) post(ctx context.Context, req any, decode func([]byte) error) error {
	body, err := json.Marshal(req)
	if err != nil {
		return sv.unavailable(err, "cannot encode the request")
	}
	var attempt int
	for {
		retry, after, err := sv.try(ctx, body, decode)
		if err == nil {
			return nil
		}
		if !retry || attempt >= sv.maxRetries {
			return withAttempts(err, attempt+1)
		}
		wait := sv.backoff(attempt, after)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return withAttempts(err, attempt+1) // no time left for another attempt
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return withAttempts(sv.unavailable(ctx.Err(), ctxDetail(ctx)), attempt+1)
		case <-t.C:
		}
		attempt++
	}
}

// withAttempts notes in err's detail how many attempts were made, if more
// than one.
func withAttempts(err error, attempts int) error {
	var e *semvec.Error
	if attempts > 1 && errors.As(err, &e) {
		e.Detail += fmt.Sprintf(" (%d attempts)", attempts)
	}
	return err
}

// backoff returns the delay before retry number attempt+1: exponential from
// baseDelay, capped, with "equal jitter" (a random point in the upper half),
// and at least the server's Retry-After.
func (sv *service) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := min(sv.baseDelay<<min(attempt, 16), retryMaxDelay)
	d = d/2 + rand.N(d/2+1)
	return max(d, retryAfter)
}

// try makes one HTTP attempt and decodes its answer. retry reports
// whether the failure is transient; after is the server's Retry-After, if
// any.
func (sv *service) try(ctx context.Context, body []byte, decode func([]byte) error) (retry bool, after time.Duration, err error) {
	actx, cancel := context.WithTimeout(ctx, sv.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, sv.endpoint, bytes.NewReader(body))
	if err != nil {
		return false, 0, sv.unavailable(err, "cannot build the request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "semvec-go")
	if sv.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+sv.apiKey)
	}
	resp, err := sv.client.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return false, 0, sv.unavailable(err, ctxDetail(ctx))
		case actx.Err() != nil:
			return true, 0, sv.unavailable(err, fmt.Sprintf("no answer from the %s within %v", sv.what, sv.timeout))
		}
		return true, 0, sv.unavailable(err, "cannot reach the "+sv.what)
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes)) // keep the connection reusable
		resp.Body.Close()
	}()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorSnippet))
		cause := fmt.Errorf("POST %s: HTTP %d: %s", redactURL(sv.endpoint), resp.StatusCode, sv.scrub(string(snippet)))
		retry := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
		return retry, parseRetryAfter(resp.Header.Get("Retry-After")), sv.unavailable(cause, fmt.Sprintf("%s answered HTTP %d", sv.what, resp.StatusCode))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return false, 0, sv.unavailable(err, ctxDetail(ctx))
		}
		return true, 0, sv.unavailable(err, "cannot read the "+sv.what+"'s response")
	}
	if len(data) > maxResponseBytes {
		return false, 0, sv.unavailable(nil, fmt.Sprintf("%s response exceeds %d bytes", sv.what, maxResponseBytes))
	}
	return false, 0, decode(data)
}

// scrub removes the API key from text that may end up in logs (some services
// echo it in error messages).
func (sv *service) scrub(s string) string {
	if sv.apiKey != "" {
		s = strings.ReplaceAll(s, sv.apiKey, "[redacted]")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// ctxDetail describes why ctx ended.
func ctxDetail(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "request deadline exceeded"
	}
	return "request cancelled"
}

// unavailable returns a KindUnavailable error with a client-safe detail.
func (sv *service) unavailable(cause error, detail string) error {
	return semvec.Wrap(semvec.KindUnavailable, cause, sv.role+" unavailable: "+detail)
}

// parseRetryAfter reads a Retry-After header (seconds or an HTTP date),
// capped at maxRetryAfter; 0 when absent or invalid.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	return max(0, min(d, maxRetryAfter))
}

type embeddingsRequest struct {
	Model string   `json:"model,omitempty"`
	Input []string `json:"input"`
}

type embeddingsResponse struct {
	Data []struct {
		Index     *int      `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// parseEmbeddingsResponse decodes an embeddings response for n inputs and
// returns the vectors ordered by their "index" (by position when no entry
// has one). It checks that there is exactly one non-empty embedding per
// input and that all have the same length. It does not normalise.
func parseEmbeddingsResponse(data []byte, n int) ([][]float32, error) {
	var r embeddingsResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if len(r.Data) != n {
		if r.Error != nil && r.Error.Message != "" {
			return nil, fmt.Errorf("service error: %.200s", r.Error.Message)
		}
		return nil, fmt.Errorf("%d embeddings for %d inputs", len(r.Data), n)
	}
	out := make([][]float32, n)
	positional := n > 0 && r.Data[0].Index == nil
	for pos, d := range r.Data {
		i := pos
		if !positional {
			if d.Index == nil {
				return nil, fmt.Errorf("entry %d has no index", pos)
			}
			i = *d.Index
		} else if d.Index != nil {
			return nil, fmt.Errorf("entry %d has an index, entry 0 has none", pos)
		}
		switch {
		case i < 0 || i >= n:
			return nil, fmt.Errorf("index %d out of range [0, %d)", i, n)
		case out[i] != nil:
			return nil, fmt.Errorf("index %d appears twice", i)
		case len(d.Embedding) == 0:
			return nil, fmt.Errorf("index %d has an empty embedding", i)
		case len(d.Embedding) != len(r.Data[0].Embedding):
			return nil, fmt.Errorf("index %d has %d dimensions, others %d", i, len(d.Embedding), len(r.Data[0].Embedding))
		}
		out[i] = d.Embedding
	}
	return out, nil
}
