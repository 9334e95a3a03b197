package memeval

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/semvec-go/semvec/actors/engine"
	"github.com/semvec-go/semvec/vecmath/embed"
)

// EngineDriver runs the harness on an engine.Session in process, the way
// the session actor does: texts embedded by Embedder, export and import
// through engine.Export and engine.ImportWith under the driver's config
// (the server's, for a server whose sessions use DefaultConfig).
type EngineDriver struct {
	S        *engine.Session
	Embedder embed.Embedder
	cfg      engine.Config
	now      time.Time
}

// NewEngineDriver returns a driver on a new session under cfg, embedding
// with emb.
func NewEngineDriver(cfg engine.Config, emb embed.Embedder) *EngineDriver {
	return &EngineDriver{S: engine.New(cfg), Embedder: emb, cfg: cfg, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (d *EngineDriver) Run(ctx context.Context, message, response string) (string, error) {
	texts := []string{message}
	if response != "" {
		texts = append(texts, response)
	}
	vecs, err := d.Embedder.Embed(ctx, texts)
	if err != nil {
		return "", err
	}
	in := engine.RunInput{Message: message, MessageVec: vecs[0], ShortCircuitThreshold: 0.85, Now: d.now}
	if response != "" {
		in.Response, in.ResponseVec = response, vecs[1]
	}
	d.now = d.now.Add(time.Second)
	res, err := d.S.Run(in)
	return res.Context, err
}

func (d *EngineDriver) Inject(ctx context.Context, text, tier string) error {
	vecs, err := d.Embedder.Embed(ctx, []string{text})
	if err != nil {
		return err
	}
	_, err = d.S.InjectMemory(engine.InjectInput{Text: text, Embedding: vecs[0], Tier: tier, Now: d.now})
	d.now = d.now.Add(time.Second)
	return err
}

func (d *EngineDriver) Export(context.Context) ([]byte, error) {
	dict, _, err := d.S.Export()
	return dict, err
}

func (d *EngineDriver) Import(_ context.Context, state []byte) error {
	s, err := engine.ImportWith(d.cfg, state)
	if err != nil {
		return err
	}
	d.S = s
	return nil
}

// HTTPDriver runs the harness against a server's REST API.
type HTTPDriver struct {
	Base      string // e.g. http://127.0.0.1:8080
	Token     string // sent as X-API-Key; "" for an anonymous server
	Client    *http.Client
	SessionID string
	// Embedder embeds the texts Inject sends (POST …/memory takes the
	// embedding from the caller); the server's own for equal results.
	Embedder embed.Embedder
}

// CreateSession creates the driver's session with the given create body
// (nil for {}).
func (d *HTTPDriver) CreateSession(ctx context.Context, body map[string]any) error {
	if body == nil {
		body = map[string]any{}
	}
	var out struct {
		SessionID string `json:"session_id"`
	}
	if err := d.call(ctx, http.MethodPost, "/v1/session/create", body, &out); err != nil {
		return err
	}
	d.SessionID = out.SessionID
	return nil
}

func (d *HTTPDriver) Run(ctx context.Context, message, response string) (string, error) {
	var out struct {
		Context string `json:"context"`
	}
	body := map[string]any{"session_id": d.SessionID, "message": message}
	if response != "" {
		body["response"] = response
	}
	err := d.call(ctx, http.MethodPost, "/v1/run", body, &out)
	return out.Context, err
}

// Inject stores text in tier through POST /v1/session/{id}/memory with the
// default importance. It needs d.Embedder.
func (d *HTTPDriver) Inject(ctx context.Context, text, tier string) error {
	if d.Embedder == nil {
		return fmt.Errorf("HTTPDriver.Inject: no Embedder")
	}
	vecs, err := d.Embedder.Embed(ctx, []string{text})
	if err != nil {
		return err
	}
	body := map[string]any{"text": text, "embedding": vecs[0], "tier": tier}
	return d.call(ctx, http.MethodPost, "/v1/session/"+d.SessionID+"/memory", body, nil)
}

func (d *HTTPDriver) Export(ctx context.Context) ([]byte, error) {
	var out json.RawMessage
	err := d.call(ctx, http.MethodGet, "/v1/session/"+d.SessionID+"/export", nil, &out)
	return out, err
}

func (d *HTTPDriver) Import(ctx context.Context, state []byte) error {
	// state is the export response: {session_id, state_dict, checksum}.
	var ex struct {
		StateDict json.RawMessage `json:"state_dict"`
		Checksum  string          `json:"checksum"`
	}
	if err := json.Unmarshal(state, &ex); err != nil {
		return err
	}
	return d.call(ctx, http.MethodPost, "/v1/session/"+d.SessionID+"/import", ex, nil)
}

func (d *HTTPDriver) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(d.Base, "/")+path, rd)
	if err != nil {
		return err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if d.Token != "" {
		req.Header.Set("X-API-Key", d.Token)
	}
	client := d.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d: %.300s", method, path, res.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}
