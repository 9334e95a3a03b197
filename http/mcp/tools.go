package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/semvec-go/semvec/http/api"
	"github.com/semvec-go/semvec/vecmath"
)

// Tool inputs. The SDK infers each tool's JSON schema from these structs:
// a field without omitempty is required; the jsonschema tag describes it.
// inputSchema completes it from the REST request the tool sends (register
// names it): the bounds and enums of its binding tags, and whether an
// optional argument may be null (left out) as REST takes null for it. A
// null string or boolean decodes as its zero value, which every tool
// treats as the argument left out; a null number as a nil pointer.

type RunIn struct {
	Message      string `json:"message" jsonschema:"the user's message for this turn"`
	SessionID    string `json:"session_id,omitempty" jsonschema:"the conversation's session id (from an earlier run or session_create); omit to start a new session"`
	Response     string `json:"response,omitempty" jsonschema:"your answer to the previous message, if not stored yet with store"`
	ResetContext bool   `json:"reset_context,omitempty" jsonschema:"create the session with this session_id when it does not exist"`
}

type StoreIn struct {
	SessionID string `json:"session_id" jsonschema:"the session id returned by run"`
	Response  string `json:"response" jsonschema:"your answer to the session's last message, to be remembered"`
}

type RecallIn struct {
	SessionID string `json:"session_id" jsonschema:"the session to recall from"`
	Query     string `json:"query,omitempty" jsonschema:"rank the memories against this text (at most 32,000 characters); omit to rank them against the conversation's current state"`
	TopK      *int   `json:"top_k,omitempty" jsonschema:"how many memories (1-100, default 5)"`
	FullFirst bool   `json:"full_first,omitempty" jsonschema:"return the top memory's full text (others are clipped to 500 characters)"`
}

type RememberIn struct {
	SessionID  string   `json:"session_id" jsonschema:"the session that should remember the fact"`
	Text       string   `json:"text" jsonschema:"the fact to remember, verbatim"`
	Tier       string   `json:"tier,omitempty" jsonschema:"short_term (default), medium_term or long_term"`
	Importance *float64 `json:"importance,omitempty" jsonschema:"greater than 0, at most 10; default 1"`
}

type CachePutIn struct {
	SessionID  string   `json:"session_id" jsonschema:"the session whose literal cache holds the entity"`
	Key        string   `json:"key" jsonschema:"the entity's key, e.g. a path or a qualified name (may contain / and .)"`
	Kind       string   `json:"kind" jsonschema:"variable, function, class, path, error, signature, constant or type"`
	Value      string   `json:"value" jsonschema:"the verbatim value"`
	Context    string   `json:"context,omitempty" jsonschema:"a short note on where or why it matters"`
	Importance *float64 `json:"importance,omitempty" jsonschema:"greater than 0, at most 10; default 1"`
}

type CacheFindIn struct {
	SessionID  string `json:"session_id" jsonschema:"the session whose literal cache to search"`
	Q          string `json:"q,omitempty" jsonschema:"keyword(s) matched against the tokens of keys and values; omit to list"`
	MaxResults *int   `json:"max_results,omitempty" jsonschema:"1-1000; default 50 with q, every entity without"`
}

type CacheDeleteIn struct {
	SessionID string `json:"session_id" jsonschema:"the session whose literal cache holds the entity"`
	Key       string `json:"key" jsonschema:"the entity's key"`
}

type SessionCreateIn struct {
	Dimension *int `json:"dimension,omitempty" jsonschema:"vector dimension; must be the server embedder's (the default)"`
}

type SessionIn struct {
	SessionID string `json:"session_id" jsonschema:"the session id"`
}

func register(s *sdk.Server, t *tools, c Connector) {
	add(s, t, c, "run", "Run one conversation turn: give the user's message (and the session_id to continue a conversation). "+
		"Returns the session_id and the context block (relevant memories, phase, hints) to use as system context for your answer.", api.RunBody{}, (*tools).run)
	add(s, t, c, "store", "Store your answer to the session's last message, so later turns recall it.", api.StoreBody{}, (*tools).store)
	add(s, t, c, "recall", "List a session's memories ranked by relevance, against the conversation's state or a query. "+
		"Each has text, relevance, memory_hash and tier.", api.ContextQuery{}, (*tools).recall)
	add(s, t, c, "remember", "Inject a fact into a session's memory directly (without a conversation turn).", api.MemoryBody{}, (*tools).remember)
	add(s, t, c, "cache_put", "Store a verbatim code entity (path, function, error message, …) in the session's literal cache; last write wins.", api.EntityBody{}, (*tools).cachePut)
	add(s, t, c, "cache_find", "Find entities in the session's literal cache by keyword, or list them.", api.EntitiesQuery{}, (*tools).cacheFind)
	add(s, t, c, "cache_delete", "Remove an entity from the session's literal cache.", nil, (*tools).cacheDelete)
	add(s, t, c, "session_create", "Create a new, empty session and return its session_id.", api.SessionCreateBody{}, (*tools).sessionCreate)
	add(s, t, c, "session_delete", "Delete a session and everything it remembers.", nil, (*tools).sessionDelete)
	add(s, t, c, "session_metrics", "A session's metrics: phase, interaction count, memories per tier, drift.", nil, (*tools).sessionMetrics)
}

func bad(err error) *sdk.CallToolResult { return errorResult("invalid input: %v", err) }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func (t *tools) run(ctx context.Context, req *sdk.CallToolRequest, in RunIn) (*sdk.CallToolResult, error) {
	if in.SessionID != "" {
		if err := checkID("session_id", in.SessionID); err != nil {
			return bad(err), nil
		}
	}
	body := map[string]any{"message": in.Message}
	if in.SessionID != "" {
		body["session_id"] = in.SessionID
	}
	if in.Response != "" {
		body["response"] = in.Response
	}
	if in.ResetContext {
		body["reset_context"] = true
	}
	var out struct {
		SessionID string `json:"session_id"`
		Context   string `json:"context"`
	}
	res, raw := t.call(ctx, req, http.MethodPost, "/v1/run", body, &out)
	if res != nil {
		return res, nil
	}
	return jsonResult("session_id: "+out.SessionID+"\n\n"+out.Context, raw), nil
}

func (t *tools) store(ctx context.Context, req *sdk.CallToolRequest, in StoreIn) (*sdk.CallToolResult, error) {
	if err := checkID("session_id", in.SessionID); err != nil {
		return bad(err), nil
	}
	var out struct {
		TotalMemories int `json:"total_memories"`
	}
	res, raw := t.call(ctx, req, http.MethodPost, "/v1/store", map[string]any{"session_id": in.SessionID, "response": in.Response}, &out)
	if res != nil {
		return res, nil
	}
	return jsonResult("stored; the session now has "+strconv.Itoa(out.TotalMemories)+" memories", raw), nil
}

type memory struct {
	Text       string  `json:"text"`
	Relevance  float64 `json:"relevance"`
	MemoryHash string  `json:"memory_hash"`
	Truncated  bool    `json:"truncated"`
	Tier       string  `json:"tier"`
}

// maxQueryChars bounds recall's query like /v1/run bounds a message: it is
// embedded.
const maxQueryChars = 32000

func (t *tools) recall(ctx context.Context, req *sdk.CallToolRequest, in RecallIn) (*sdk.CallToolResult, error) {
	if err := checkID("session_id", in.SessionID); err != nil {
		return bad(err), nil
	}
	topK := 5
	if in.TopK != nil {
		topK = *in.TopK
	}
	if topK < 1 || topK > 100 {
		return bad(errorf("top_k must be between 1 and 100")), nil
	}
	if utf8.RuneCountInString(in.Query) > maxQueryChars {
		return bad(errorf("query must be at most %d characters", maxQueryChars)), nil
	}
	fetch := topK
	if strings.TrimSpace(in.Query) != "" {
		fetch = 100 // candidates to re-rank against the query
		if t.emb == nil {
			return errorResult("%v", errNoEmbedder), nil
		}
	}
	q := url.Values{"session_id": {in.SessionID}, "top_k": {strconv.Itoa(fetch)}}
	if in.FullFirst {
		q.Set("full_first", "true")
	}
	var mems []memory
	if res, _ := t.call(ctx, req, http.MethodGet, "/v1/state/context?"+q.Encode(), nil, &mems); res != nil {
		return res, nil
	}
	if strings.TrimSpace(in.Query) != "" && len(mems) > 0 {
		texts := make([]string, 0, len(mems)+1)
		texts = append(texts, in.Query)
		for _, m := range mems {
			texts = append(texts, m.Text)
		}
		vecs, err := t.emb.Embed(ctx, texts)
		if err != nil {
			return errorResult("embedding the query: %v", err), nil
		}
		for i := range mems {
			mems[i].Relevance = float64(vecmath.Cosine(vecs[0], vecs[i+1]))
		}
		sort.SliceStable(mems, func(i, j int) bool { return mems[i].Relevance > mems[j].Relevance })
		if len(mems) > topK {
			mems = mems[:topK]
		}
	}
	var b strings.Builder
	if len(mems) == 0 {
		b.WriteString("no memories yet")
	}
	for i, m := range mems {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(strconv.Itoa(i+1) + ". [" + strconv.FormatFloat(m.Relevance, 'f', 2, 64) + ", " + m.Tier + ", " + m.MemoryHash + "] " + m.Text)
	}
	raw, _ := json.Marshal(map[string]any{"session_id": in.SessionID, "memories": mems})
	return jsonResult(b.String(), raw), nil
}

func (t *tools) remember(ctx context.Context, req *sdk.CallToolRequest, in RememberIn) (*sdk.CallToolResult, error) {
	path, err := sessionPath("/v1/session/", in.SessionID, "/memory")
	if err != nil {
		return bad(err), nil
	}
	if strings.TrimSpace(in.Text) == "" {
		return bad(errorf("text must not be blank")), nil
	}
	if t.emb == nil {
		return errorResult("%v", errNoEmbedder), nil
	}
	vecs, err := t.emb.Embed(ctx, []string{in.Text})
	if err != nil {
		return errorResult("embedding the text: %v", err), nil
	}
	body := map[string]any{"embedding": vecs[0], "text": in.Text}
	if in.Tier != "" {
		body["tier"] = in.Tier
	}
	if in.Importance != nil {
		body["importance"] = *in.Importance
	}
	var out struct {
		Tier          string `json:"tier"`
		TotalMemories int    `json:"total_memories"`
	}
	res, raw := t.call(ctx, req, http.MethodPost, path, body, &out)
	if res != nil {
		return res, nil
	}
	return jsonResult("remembered (tier "+out.Tier+"); the session now has "+strconv.Itoa(out.TotalMemories)+" memories", raw), nil
}

func (t *tools) cachePut(ctx context.Context, req *sdk.CallToolRequest, in CachePutIn) (*sdk.CallToolResult, error) {
	path, err := sessionPath("/v1/session/", in.SessionID, "/entities")
	if err != nil {
		return bad(err), nil
	}
	body := map[string]any{"key": in.Key, "kind": in.Kind, "value": in.Value}
	if in.Context != "" {
		body["context"] = in.Context
	}
	if in.Importance != nil {
		body["importance"] = *in.Importance
	}
	res, raw := t.call(ctx, req, http.MethodPost, path, body, nil)
	if res != nil {
		return res, nil
	}
	return jsonResult("cached "+in.Kind+" "+in.Key, raw), nil
}

func (t *tools) cacheFind(ctx context.Context, req *sdk.CallToolRequest, in CacheFindIn) (*sdk.CallToolResult, error) {
	path, err := sessionPath("/v1/session/", in.SessionID, "/entities")
	if err != nil {
		return bad(err), nil
	}
	q := url.Values{}
	if in.Q != "" {
		q.Set("q", in.Q)
	}
	if in.MaxResults != nil {
		q.Set("max_results", strconv.Itoa(*in.MaxResults))
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out struct {
		Entities []struct {
			Key, Kind, Value, Context string
		} `json:"entities"`
	}
	res, raw := t.call(ctx, req, http.MethodGet, path, nil, &out)
	if res != nil {
		return res, nil
	}
	var b strings.Builder
	if len(out.Entities) == 0 {
		b.WriteString("no entities found")
	}
	for i, e := range out.Entities {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(e.Kind + " " + e.Key + ": " + e.Value)
		if e.Context != "" {
			b.WriteString(" (" + e.Context + ")")
		}
	}
	return jsonResult(b.String(), raw), nil
}

func (t *tools) cacheDelete(ctx context.Context, req *sdk.CallToolRequest, in CacheDeleteIn) (*sdk.CallToolResult, error) {
	path, err := sessionPath("/v1/session/", in.SessionID, "/entities/")
	if err != nil {
		return bad(err), nil
	}
	if strings.TrimSpace(in.Key) == "" {
		return bad(errorf("key is required")), nil
	}
	segs := strings.Split(strings.TrimPrefix(in.Key, "/"), "/")
	for i, s := range segs {
		if s == "." || s == ".." {
			return bad(errorf("key must not contain . or .. segments")), nil
		}
		segs[i] = url.PathEscape(s)
	}
	res, raw := t.call(ctx, req, http.MethodDelete, path+strings.Join(segs, "/"), nil, nil)
	if res != nil {
		return res, nil
	}
	return jsonResult("removed "+in.Key, raw), nil
}

func (t *tools) sessionCreate(ctx context.Context, req *sdk.CallToolRequest, in SessionCreateIn) (*sdk.CallToolResult, error) {
	body := map[string]any{}
	if in.Dimension != nil {
		body["dimension"] = *in.Dimension
	}
	var out struct {
		SessionID string `json:"session_id"`
	}
	res, raw := t.call(ctx, req, http.MethodPost, "/v1/session/create", body, &out)
	if res != nil {
		return res, nil
	}
	return jsonResult("session_id: "+out.SessionID, raw), nil
}

func (t *tools) sessionDelete(ctx context.Context, req *sdk.CallToolRequest, in SessionIn) (*sdk.CallToolResult, error) {
	path, err := sessionPath("/v1/session/", in.SessionID, "")
	if err != nil {
		return bad(err), nil
	}
	res, raw := t.call(ctx, req, http.MethodDelete, path, nil, nil)
	if res != nil {
		return res, nil
	}
	return jsonResult("deleted session "+in.SessionID, raw), nil
}

func (t *tools) sessionMetrics(ctx context.Context, req *sdk.CallToolRequest, in SessionIn) (*sdk.CallToolResult, error) {
	path, err := sessionPath("/v1/metrics/", in.SessionID, "")
	if err != nil {
		return bad(err), nil
	}
	var out struct {
		Phase            string  `json:"phase"`
		InteractionCount int     `json:"interaction_count"`
		TotalMemories    int     `json:"total_memories"`
		DriftScore       float64 `json:"drift_score"`
	}
	res, raw := t.call(ctx, req, http.MethodGet, path, nil, &out)
	if res != nil {
		return res, nil
	}
	return jsonResult("phase "+out.Phase+", "+strconv.Itoa(out.InteractionCount)+" interactions, "+
		strconv.Itoa(out.TotalMemories)+" memories, drift score "+strconv.FormatFloat(out.DriftScore, 'f', 3, 64), raw), nil
}
