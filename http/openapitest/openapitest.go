// Package openapitest checks HTTP responses against the server's own
// /openapi.json with kin-openapi's openapi3filter, so a test that talks to a
// whole server also checks that every answer it gets is one the document
// describes: status, content type and body schema.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// Validator checks responses against one OpenAPI document.
type Validator struct {
	doc    *openapi3.T
	errRef *openapi3.SchemaRef
	routes []route
}

type route struct {
	path, method string
	segments     []string
	item         *openapi3.PathItem
	op           *openapi3.Operation
}

// Load parses and validates an OpenAPI document.
func Load(raw []byte) (*Validator, error) {
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("invalid OpenAPI document: %w", err)
	}
	v := &Validator{doc: doc}
	if doc.Components != nil {
		v.errRef = doc.Components.Schemas["Error"]
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			v.routes = append(v.routes, route{path: path, method: method, segments: strings.Split(path, "/"), item: item, op: op})
		}
	}
	return v, nil
}

// Fetch loads the document a server serves at base + "/openapi.json".
func Fetch(ctx context.Context, client *http.Client, base string) (*Validator, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/openapi.json", nil)
	if err != nil {
		return nil, err
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /openapi.json: %s", res.Status)
	}
	return Load(raw)
}

// Check validates a response (with its body already read) to req. A
// request to a documented operation must get an answer that operation
// documents; any other request must be refused with a JSON error
// ({"detail": "..."}), except a CORS preflight.
func (v *Validator) Check(req *http.Request, status int, header http.Header, body []byte) error {
	r, params := v.match(req.Method, req.URL.Path)
	if r == nil {
		switch {
		case req.Method == http.MethodOptions && status < 300:
			return nil
		case status < 400:
			return fmt.Errorf("%s %s: %d from an undocumented route", req.Method, req.URL.Path, status)
		case v.errRef == nil:
			return nil
		}
		schema := v.errRef.Value
		var value any
		if err := decodeJSON(header, body, &value); err != nil {
			return fmt.Errorf("%s %s: %d: %w", req.Method, req.URL.Path, status, err)
		}
		if err := schema.VisitJSON(value); err != nil {
			return fmt.Errorf("%s %s: %d is not an Error: %w", req.Method, req.URL.Path, status, err)
		}
		return nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: params,
			Route:      &routers.Route{Spec: v.doc, Path: r.path, PathItem: r.item, Method: r.method, Operation: r.op},
		},
		Status:  status,
		Header:  header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		return fmt.Errorf("%s %s (%s %s): %d %s: %w", req.Method, req.URL.Path, r.method, r.path, status, clip(body), err)
	}
	return nil
}

// OperationID is the operationId of the documented operation a request
// of method to path reaches, or "" when none does.
func (v *Validator) OperationID(method, path string) string {
	if r, _ := v.match(method, path); r != nil {
		return r.op.OperationID
	}
	return ""
}

// OperationIDs lists every operationId the document holds.
func (v *Validator) OperationIDs() []string {
	ids := make([]string, 0, len(v.routes))
	for _, r := range v.routes {
		ids = append(ids, r.op.OperationID)
	}
	return ids
}

// match finds the documented operation for method and path: segments
// match literally or as a path parameter, the most literal match wins, a
// final parameter may take the rest of the path (an entity key with
// slashes), and a collection path may be called without its trailing slash.
func (v *Validator) match(method, path string) (*route, map[string]string) {
	for _, p := range []string{path, path + "/"} {
		segs := strings.Split(p, "/")
		var best *route
		var bestParams map[string]string
		bestScore := -1
		for i := range v.routes {
			r := &v.routes[i]
			if r.method != method {
				continue
			}
			params, score, ok := matchSegments(r.segments, segs)
			if ok && score > bestScore {
				best, bestParams, bestScore = r, params, score
			}
		}
		if best != nil {
			return best, bestParams
		}
	}
	return nil, nil
}

// matchSegments reports whether path segments got match the template;
// score counts the literal segments, and an exact-length match beats one
// whose last parameter took several segments.
func matchSegments(tmpl, got []string) (map[string]string, int, bool) {
	if len(got) < len(tmpl) {
		return nil, 0, false
	}
	params := map[string]string{}
	score := 1
	for i, t := range tmpl {
		name, isParam := strings.CutPrefix(t, "{")
		switch {
		case isParam && i == len(tmpl)-1 && len(got) > len(tmpl):
			params[strings.TrimSuffix(name, "}")] = strings.Join(got[i:], "/")
			return params, score - 1, true
		case isParam:
			if got[i] == "" {
				return nil, 0, false
			}
			params[strings.TrimSuffix(name, "}")] = got[i]
		case t == got[i]:
			score += 2
		default:
			return nil, 0, false
		}
	}
	return params, score, len(got) == len(tmpl)
}

func decodeJSON(header http.Header, body []byte, dst any) error {
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("content type %q, want application/json", ct)
	}
	return json.Unmarshal(body, dst)
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
