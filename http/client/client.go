// Package client is a typed Go client of the semvec-go REST API. It sends
// and receives the server's own wire types (package http/api), takes a
// context on every call, and retries after the wait the server asks for, a
// bounded number of times and never for longer in total than its wait
// budget or the context allows: an answer of 429 (the rate limit refused
// the request before it did anything), and a 503 or 504 to a GET. The wait
// is the answer's Retry-After, except that a 429's RateLimit-Reset (the seconds
// until the caller's bucket holds a token again) goes first: the REST
// contract fixes a 429's Retry-After at 60 s whatever the bucket.
//
//	c := client.New("http://127.0.0.1:8080", client.WithToken(token))
//	run, err := c.Run(ctx, api.RunBody{Message: "What is Kubernetes?"})
//	// … give run.Context to the LLM, then store its answer:
//	_, err = c.Store(ctx, api.StoreBody{SessionID: run.SessionID, Response: answer})
//
// An error answer is an *Error carrying the status and the server's detail.
// A 503 or 504 to a change (POST, PUT, DELETE) is returned, never retried:
// its outcome is unknown (the database may have committed it although the
// server could not learn so, or the actor may still apply it; see the
// README, "Durability"), and retrying a /v1/run or /v1/store could apply it
// twice. The caller decides; both answers carry the Retry-After to wait.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/semvec-go/semvec/http/api"
)

// Client calls one semvec-go server. It is safe for concurrent use.
type Client struct {
	base    string
	token   string
	http    *http.Client
	retries int
	maxWait time.Duration
	backoff time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithToken authenticates every request with a licence token (sent as
// "Authorization: Bearer <token>"). Without it the server must run in
// anonymous mode.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient sends the requests through h (default http.DefaultClient).
// A nil h is ignored: the client keeps the one it had.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) {
		if h != nil {
			c.http = h
		}
	}
}

// WithRetries sets how many times an answer of 429, or of 503 or 504 to a
// GET, is retried (default 3; 0 turns retrying off).
func WithRetries(n int) Option { return func(c *Client) { c.retries = max(n, 0) } }

// WithMaxWait caps the total time one call spends waiting between retries
// (default 30 s). A Retry-After that would take the call past it is not
// waited for: the call returns the error at once.
func WithMaxWait(d time.Duration) Option { return func(c *Client) { c.maxWait = d } }

// New returns a client of the server at baseURL (http://host:port). Nil
// options are skipped.
func New(baseURL string, opts ...Option) *Client {
	c := &Client{base: strings.TrimSuffix(baseURL, "/"), http: http.DefaultClient, retries: 3, maxWait: 30 * time.Second, backoff: time.Second}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	return c
}

// Error is an error answer of the server.
type Error struct {
	Status int    // HTTP status
	Detail string // the server's detail; for a 422, its items joined
	// Validation holds the items of a 422 (which field, why).
	Validation []api.ValidationItem
	// RetryAfter is the wait the server asked for, when it did: a 429's
	// RateLimit-Reset when sent, else the answer's Retry-After.
	RetryAfter time.Duration
	retryAfter bool // the server asked for a wait
}

func (e *Error) Error() string {
	return fmt.Sprintf("semvec: %d %s: %s", e.Status, http.StatusText(e.Status), e.Detail)
}

// StatusOf returns the HTTP status of an *Error in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// do sends one call and decodes a 2xx answer into out (when not nil). body,
// when not nil, is sent as JSON.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return err
		}
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var waited time.Duration
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, method, u, raw, out)
		var e *Error
		if !errors.As(err, &e) || !retryable(method, e.Status) || attempt >= c.retries {
			return err
		}
		wait := e.RetryAfter
		if !e.retryAfter {
			wait = c.backoff << attempt
		}
		if waited+wait > c.maxWait {
			return err
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		waited += wait
	}
}

// retryable reports whether an answer of status to a request of method is
// retried: a 429 always (the rate limit refuses before anything is done), a
// 503 or 504 only for a read (a change's outcome is unknown after either).
func retryable(method string, status int) bool {
	switch status {
	case http.StatusTooManyRequests:
		return true
	case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return method == http.MethodGet
	}
	return false
}

func (c *Client) once(ctx context.Context, method, u string, raw []byte, out any) error {
	var rd io.Reader
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("semvec: %s %s: decoding the answer: %w", method, req.URL.Path, err)
		}
		return nil
	}
	return answerError(res, data)
}

// answerError builds the *Error of an error answer: {"detail": "..."}, or
// a 422's {"detail": [items]}, or whatever text came.
func answerError(res *http.Response, data []byte) *Error {
	e := &Error{Status: res.StatusCode}
	e.RetryAfter, e.retryAfter = retryAfter(res.Header.Get("Retry-After"))
	if s, err := strconv.Atoi(res.Header.Get("RateLimit-Reset")); err == nil && s >= 0 && res.StatusCode == http.StatusTooManyRequests {
		e.RetryAfter, e.retryAfter = time.Duration(s)*time.Second, true
	}
	var plain api.Error
	var invalid api.ValidationError
	switch {
	case json.Unmarshal(data, &plain) == nil && plain.Detail != "":
		e.Detail = plain.Detail
	case json.Unmarshal(data, &invalid) == nil && len(invalid.Detail) > 0:
		e.Validation = invalid.Detail
		msgs := make([]string, len(invalid.Detail))
		for i, it := range invalid.Detail {
			loc := make([]string, len(it.Loc))
			for j, l := range it.Loc {
				loc[j] = fmt.Sprint(l)
			}
			msgs[i] = strings.Join(loc, ".") + ": " + it.Msg
		}
		e.Detail = strings.Join(msgs, "; ")
	default:
		e.Detail = strings.TrimSpace(string(data))
	}
	return e
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
func retryAfter(v string) (time.Duration, bool) {
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// call sends one call and returns its decoded answer.
func call[T any](ctx context.Context, c *Client, method, path string, query url.Values, body any) (*T, error) {
	out := new(T)
	if err := c.do(ctx, method, path, query, body, out); err != nil {
		return nil, err
	}
	return out, nil
}

// list is call for the routes that answer a JSON list.
func list[T any](ctx context.Context, c *Client, path string, query url.Values) ([]T, error) {
	var out []T
	if err := c.do(ctx, http.MethodGet, path, query, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }

// keyPath escapes an entity key segment by segment: keys may contain "/".
func keyPath(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func limitQuery(q api.LimitQuery) url.Values {
	v := url.Values{}
	if q.Limit != nil {
		v.Set("limit", strconv.Itoa(*q.Limit))
	}
	return v
}
