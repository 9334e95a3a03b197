package http

import (
	"bytes"
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"
	"github.com/go-playground/validator/v10"

	"github.com/semvec-go/semvec/http/api"
)

// detailBodyTooLarge is the 413 detail.
const detailBodyTooLarge = "Request body too large"

// detailBodyTooComplex is the 413 detail of a body whose keys must be
// rewritten (exactKeys) but that holds more values than a rewriting builds.
const detailBodyTooComplex = "Request body too complex: it holds too many values to read its keys exactly"

// detailBodyTimeout: the request body arrived after the request's deadline
// (SEMVEC_REQUEST_TIMEOUT).
const detailBodyTimeout = "Request body not received within the request timeout"

// maxEchoedInput bounds the "input" a 422 model_attributes_type echoes of
// a body that is not JSON by its Content-Type. FastAPI echoes all of it;
// JSON-escaped, a body of control characters or invalid bytes grows six
// times (\u0001, \ufffd), so a 4 MiB text/plain body cost a 24 MB answer
// and ~100 MB of transient memory, and 16 such requests at once took the
// server past 2 GB resident.
const maxEchoedInput = 4096

// echoedInput is body as the text a 422 echoes: the whole of it when short,
// else its first maxEchoedInput bytes (cut at a character boundary) and "…".
func echoedInput(body []byte) string {
	if len(body) <= maxEchoedInput {
		return string(body)
	}
	n := maxEchoedInput
	for n > 0 && !utf8.RuneStart(body[n]) {
		n--
	}
	return string(body[:n]) + "…"
}

// validationError writes a 422 with the given items and aborts the chain.
// Handlers use it for checks that binding tags cannot express.
func validationError(c *gin.Context, items ...api.ValidationItem) {
	if items == nil {
		items = []api.ValidationItem{}
	}
	for i := range items {
		if items[i].Loc == nil {
			items[i].Loc = []any{}
		}
	}
	c.AbortWithStatusJSON(http.StatusUnprocessableEntity, api.ValidationError{Detail: items})
}

// validatorOnce guards the one-time registration of a tag-name function and
// of the notblank rule on gin's validator engine.
//
// It is one of the package's two mutable package-level variables (the other
// is fieldCache, a memo of each struct type's fields; see there), and it is
// here because the thing it guards is itself global: binding.Validator is a
// process-wide singleton inside gin, so registering per Server instance would
// race with validation running in another instance (tests build many engines)
// and would register the same functions again and again. The registration is
// idempotent in effect, so a process-wide Once is the honest scope.
var validatorOnce sync.Once

// registerValidators prepares gin's validator for this package's binding
// tags. It makes validator errors name fields by their json (then form, then
// uri) tag instead of their Go name, in FieldError.Field() and Namespace(),
// and adds the rule notblank: a string with at least one non-whitespace
// character (pydantic's strip_whitespace plus min_length=1; reported as
// string_too_short). Safe to call any number of times; New calls it, and the
// bind helpers call it too so the order of construction does not matter.
//
// The 422 "loc" computed by bindJSON/bindQuery does not depend on it: it is
// derived from the Go struct namespace and the destination type's tags.
func registerValidators() {
	validatorOnce.Do(func() {
		v, ok := binding.Validator.Engine().(*validator.Validate)
		if !ok {
			return
		}
		v.RegisterTagNameFunc(func(f reflect.StructField) string {
			for _, tag := range []string{"json", "form", "uri"} {
				name, _, _ := strings.Cut(f.Tag.Get(tag), ",")
				if name == "-" {
					return ""
				}
				if name != "" {
					return name
				}
			}
			return f.Name
		})
		if err := v.RegisterValidation("notblank", func(fl validator.FieldLevel) bool {
			f := fl.Field()
			return f.Kind() != reflect.String || strings.TrimSpace(f.String()) != ""
		}); err != nil {
			panic(err) // a programming error: the rule's name is fixed
		}
		// nonul: no NUL character, which neither SQLite's SQL text nor
		// PostgreSQL's text type can hold (names stored in columns).
		if err := v.RegisterValidation("nonul", func(fl validator.FieldLevel) bool {
			f := fl.Field()
			return f.Kind() != reflect.String || !strings.ContainsRune(f.String(), 0)
		}); err != nil {
			panic(err)
		}
	})
}

// bodyLimits are the request body limits, in bytes (<= 0: no limit): one
// for every route but the import of a session, whose body is an export
// and may be larger.
type bodyLimits struct {
	normal, importing int64
}

// importRoute is the route whose body is an exported session.
const importRoute = "/v1/session/:id/import"

// of returns the body limit of the route that c matched.
func (l bodyLimits) of(c *gin.Context) int64 {
	if c.FullPath() == importRoute {
		return l.importing
	}
	return l.normal
}

// bodyLimitKey is the gin key under which maxBody leaves the request's
// body limit (an int64), for BodyBudget.
const bodyLimitKey = "semvec.bodyLimit"

// maxBody limits request bodies to their route's limit. A declared
// Content-Length above the limit is refused with 413 at once; a body that
// turns out longer fails the read with *http.MaxBytesError, which bindJSON
// turns into the same 413.
func maxBody(limits bodyLimits) gin.HandlerFunc {
	return func(c *gin.Context) {
		limit := limits.of(c)
		if limit <= 0 || c.Request.Body == nil || c.Request.Body == http.NoBody {
			c.Next()
			return
		}
		if c.Request.ContentLength > limit {
			c.Header("Connection", "close")
			c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, api.Error{Detail: detailBodyTooLarge})
			return
		}
		c.Set(bodyLimitKey, limit)
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		c.Next()
	}
}

// readBody reads r whole. A body of declared length n (within the body
// limit: maxBody refuses more) is read into a buffer of that size, not one
// grown by doubling, so it holds what BodyBudget reserved for it.
func readBody(r io.Reader, n int64) ([]byte, error) {
	if n <= 0 {
		return io.ReadAll(r)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// bindJSON decodes the JSON request body into dst (a pointer) with gin's JSON
// binding and runs its `binding:` validation. On failure it writes the
// response and returns false:
//
//   - body over the maxBody limit: 413 {"detail": "Request body too large"};
//   - no body: 422 missing at ["body"];
//   - a body whose Content-Type is not JSON (jsonContentType): 422
//     model_attributes_type at ["body"], the body as "input";
//   - a body that is not UTF-8: 400 {"detail": "There was an error parsing
//     the body"}, as FastAPI answers when Python cannot decode it (rather
//     than store U+FFFD in place of the bytes);
//   - JSON null: 422 missing at ["body"];
//   - malformed JSON or trailing data: 422 json_invalid at ["body", offset];
//   - wrong JSON type: 422 "<kind>_type" at the field's full path, array
//     indexes included;
//   - JSON null where pydantic takes no None: 422 "<kind>_type" with
//     "input": null at its path, for a field not tagged nullable (which
//     encoding/json would leave as absent, so it took its default) and for
//     an element of an array or a map value whose Go type cannot be nil,
//     such as a vector's component (encoding/json would store a zero); see
//     nullItems;
//   - failed binding tags: 422 with one item per failed field (missing,
//     greater_than_equal, string_too_short, enum, …).
//
// The body is read once and put back, so it can be read again after binding.
func bindJSON(c *gin.Context, dst any) bool {
	registerValidators()
	var body []byte
	if c.Request.Body != nil {
		var err error
		body, err = readBody(c.Request.Body, c.Request.ContentLength)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				c.Header("Connection", "close")
				c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, api.Error{Detail: detailBodyTooLarge})
				return false
			}
			// The read ended at the server's read deadline after the
			// request's own (see the server's ReadTimeout): the same 408 as
			// a body that arrives late.
			if errors.Is(c.Request.Context().Err(), context.DeadlineExceeded) {
				c.Header("Connection", "close")
				c.AbortWithStatusJSON(http.StatusRequestTimeout, api.Error{Detail: detailBodyTimeout})
				return false
			}
			c.AbortWithStatusJSON(http.StatusBadRequest, api.Error{Detail: "Could not read request body"})
			return false
		}
		c.Request.Body = io.NopCloser(bytes.NewReader(body))
		// The body came in after the request's deadline (a slow upload):
		// whatever the handler asked next would fail on the spent context
		// and be reported as the database or an actor failing (503
		// "database unavailable", 504), which sends the operator after the
		// wrong cause. It is the client's slowness: 408, nothing done.
		if errors.Is(c.Request.Context().Err(), context.DeadlineExceeded) {
			c.Header("Connection", "close")
			c.AbortWithStatusJSON(http.StatusRequestTimeout, api.Error{Detail: detailBodyTimeout})
			return false
		}
	}
	// In FastAPI's order: no body, a body that is not JSON by its
	// Content-Type, a JSON null, a body that does not parse.
	missing := api.ValidationItem{Loc: []any{"body"}, Msg: "Field required", Type: "missing"}
	if len(body) == 0 {
		validationError(c, missing)
		return false
	}
	if !jsonContentType(c.GetHeader("Content-Type")) {
		input, _ := json.Marshal(echoedInput(body)) // the body as text, as FastAPI echoes the bytes it did not parse
		validationError(c, api.ValidationItem{Loc: []any{"body"}, Msg: "Input should be a valid dictionary or object to extract fields from",
			Type: "model_attributes_type", Input: input})
		return false
	}
	if !utf8.Valid(body) {
		c.AbortWithStatusJSON(http.StatusBadRequest, api.Error{Detail: "There was an error parsing the body"})
		return false
	}
	if string(bytes.TrimSpace(body)) == "null" {
		validationError(c, missing)
		return false
	}
	if !json.Valid(body) {
		validationError(c, api.ValidationItem{Loc: []any{"body", syntaxErrorOffset(body)}, Msg: "JSON decode error", Type: "json_invalid"})
		return false
	}
	exact, ok, err := exactKeys(body, reflect.TypeOf(dst))
	if err != nil { // errTooComplex
		c.Header("Connection", "close")
		c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, api.Error{Detail: detailBodyTooComplex})
		return false
	}
	if ok {
		body = exact
	}
	// A nullable field whose last value is null is bound as absent.
	var nulls []api.ValidationItem
	nulls, body = nullItems(body, dst)
	err = bindBody(body, dst)
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) { // pydantic's lax mode may take it (laxBody)
		if lax, ok := laxBody(body, reflect.TypeOf(dst)); ok {
			reflect.ValueOf(dst).Elem().SetZero()
			body = lax
			err = bindBody(body, dst)
		}
	}
	if err == nil && len(nulls) == 0 {
		return true
	}
	var iue *json.InvalidUnmarshalError
	if errors.As(err, &iue) { // dst is not a pointer: a programming error
		_ = c.Error(err)
		c.AbortWithStatusJSON(http.StatusInternalServerError, api.Error{Detail: "Internal Server Error"})
		return false
	}
	// encoding/json stops reporting at the first value of a wrong type;
	// pydantic reports every error. Each wrong value found is set to null
	// (which encoding/json takes for any type) and the body decoded again,
	// up to maxTypeErrors and a bounded number of bytes decoded again;
	// then the range checks of the values that were right.
	var typeItems []api.ValidationItem
	for tries := min(maxTypeErrors, maxRedecodeBytes/max(len(body), 1)); tries > 0 && errors.As(err, &ute); tries-- {
		it := typeErrorItem(ute, body, "body")
		if len(it.Loc) < 2 || slices.ContainsFunc(typeItems, func(f api.ValidationItem) bool { return slices.Equal(f.Loc, it.Loc) }) {
			break // the body itself, or no progress (a duplicate key)
		}
		nulled, ok := nullAt(body, reflect.TypeOf(dst), it.Loc[1:])
		if !ok {
			break
		}
		typeItems, body = append(typeItems, it), nulled
		reflect.ValueOf(dst).Elem().SetZero()
		err = bindBody(body, dst)
	}
	// The refused nulls and the wrong values come first; a binding error at
	// one of them (a required field given null is "missing" to the
	// validator) is left out.
	first := append(nulls, typeItems...)
	if len(first) == 0 {
		validationError(c, bindErrorItems(err, "body", "json", dst, body)...)
		return false
	}
	var rest []api.ValidationItem
	if err != nil {
		rest = bindErrorItems(err, "body", "json", dst, body)
	}
	validationError(c, mergeItems(first, rest, 0, reflect.TypeOf(dst), "json")...)
	return false
}

// How many more times bindJSON decodes a body to find the type errors
// after the first, and how many bytes it decodes again at most: pydantic
// reports every error, but a large body full of wrong values must not cost
// a decoding per value.
const (
	maxTypeErrors    = 16
	maxRedecodeBytes = 1 << 20
)

// nullAt returns body, the body of a dst of type t, with its value at path
// (object keys, the last of equal keys, as encoding/json takes it; array
// indexes) replaced by null.
func nullAt(body []byte, t reflect.Type, path []any) ([]byte, bool) {
	out, changed, _ := rewriteBody(body, t, func(root any) (any, bool) {
		if len(path) == 0 {
			return root, false
		}
		set, v := func(any) {}, root
		for _, seg := range path {
			switch seg := seg.(type) {
			case string:
				o, ok := v.(*object)
				if !ok {
					return root, false
				}
				k := -1
				for n, key := range o.keys {
					if key == seg {
						k = n
					}
				}
				if k < 0 {
					return root, false
				}
				v, set = o.vals[k], func(x any) { o.vals[k] = x }
			case int:
				a, ok := v.([]any)
				if !ok || seg < 0 || seg >= len(a) {
					return root, false
				}
				v, set = a[seg], func(x any) { a[seg] = x }
			default:
				return root, false
			}
		}
		set(nil)
		return root, true
	})
	return out, changed
}

// bindQuery binds the URL query into dst (a pointer to a struct with `form:`
// tags) and validates it, like c.ShouldBindQuery. Booleans accept what
// pydantic accepts (true/false, 1/0, yes/no, on/off, t/f, y/n, any case). On
// failure it writes a 422 with loc ["query", name] and returns false.
// Unparsable numbers and booleans give pydantic's int_parsing /
// float_parsing / bool_parsing items.
func bindQuery(c *gin.Context, dst any) bool {
	registerValidators()
	q := c.Request.URL.Query()
	normalizeQuery(q, reflect.TypeOf(dst))
	// A value that does not parse is pydantic's *_parsing error (gin would
	// read an empty one as zero); the other fields are still checked, and
	// every error is reported, as pydantic reports them.
	parse := queryParseItems(q, reflect.TypeOf(dst))
	for _, it := range parse {
		q.Del(it.Loc[1].(string))
	}
	// What c.ShouldBindQuery does, on the normalised values.
	err := binding.MapFormWithTag(dst, q, "form")
	if err == nil && binding.Validator != nil {
		err = binding.Validator.ValidateStruct(dst)
	}
	if err == nil && len(parse) == 0 {
		return true
	}
	var ves validator.ValidationErrors
	if err != nil && !errors.As(err, &ves) {
		validationError(c, api.ValidationItem{Loc: []any{"query"}, Msg: "Value error, " + err.Error(), Type: "value_error"})
		return false
	}
	var rest []api.ValidationItem
	if err != nil {
		rest = bindErrorItems(err, "query", "form", dst, nil)
	}
	validationError(c, mergeItems(parse, rest, 2, reflect.TypeOf(dst), "form")...)
	return false
}

// mergeItems is first (type and parse errors, found before the values were
// bound) and the items of rest that are not about a value of first (a
// value that did not parse is left out of the binding, and its field may
// then be reported "missing"; with within > 0, a first item covers the
// items of its loc's first within elements: a query parameter's list), in
// the order pydantic reports them: by the fields' order in struct type t
// (tag names them on the wire), errors of one field in the order found.
func mergeItems(first, rest []api.ValidationItem, within int, t reflect.Type, tag string) []api.ValidationItem {
	items := slices.Clone(first)
	covers := func(f, it api.ValidationItem) bool {
		loc := f.Loc
		if within > 0 && len(loc) > within {
			loc = loc[:within]
		}
		return hasLocPrefix(it.Loc, loc)
	}
	for _, it := range rest {
		if !slices.ContainsFunc(first, func(f api.ValidationItem) bool { return covers(f, it) }) {
			items = append(items, it)
		}
	}
	order := map[string]int{}
	if t = derefType(t); t != nil && t.Kind() == reflect.Struct {
		for i, f := range reflect.VisibleFields(t) {
			if name, _ := wireName(f, tag); f.IsExported() {
				if _, seen := order[name]; !seen {
					order[name] = i
				}
			}
		}
	}
	rank := func(it api.ValidationItem) int {
		if len(it.Loc) < 2 {
			return -1 // the body as a whole
		}
		if name, ok := it.Loc[1].(string); ok {
			if i, ok := order[name]; ok {
				return i
			}
		}
		return len(order)
	}
	slices.SortStableFunc(items, func(a, b api.ValidationItem) int { return rank(a) - rank(b) })
	return items
}

// hasLocPrefix reports whether loc starts with prefix.
func hasLocPrefix(loc, prefix []any) bool {
	return len(loc) >= len(prefix) && slices.Equal(loc[:len(prefix)], prefix)
}

// bindErrorItems maps a binding error to 422 items. where is "body" or
// "query"; tag is the struct tag that names fields on the wire.
func bindErrorItems(err error, where, tag string, dst any, body []byte) []api.ValidationItem {
	var (
		ves validator.ValidationErrors
		sve binding.SliceValidationError
		ute *json.UnmarshalTypeError
		se  *json.SyntaxError
	)
	root := reflect.TypeOf(dst)
	switch {
	case errors.As(err, &ves):
		items := make([]api.ValidationItem, 0, len(ves))
		for _, fe := range ves {
			it := fieldErrorItem(fe, []any{where}, root, tag)
			if k := fe.Kind(); it.Type == "missing" && (k == reflect.String || k == reflect.Slice || k == reflect.Map) {
				// "required" fails on the zero value: a field that is
				// there but empty ("", [], {}) is not missing. (Given
				// null, it is nullItems' report, which bindJSON puts in
				// this one's place.)
				if raw, ok := bodyAt(body, it.Loc[1:]); ok && string(raw) != "null" {
					it.Msg, it.Type = tooShort(k, "1", 0)
				}
			}
			items = append(items, it)
		}
		return items
	case errors.As(err, &sve):
		// A top-level JSON array: gin does not keep the element indexes.
		var items []api.ValidationItem
		var elem reflect.Type
		if t := derefType(root); t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for _, e := range sve {
			var inner validator.ValidationErrors
			if errors.As(e, &inner) {
				for _, fe := range inner {
					items = append(items, fieldErrorItem(fe, []any{where}, elem, tag))
				}
			}
		}
		if len(items) > 0 {
			return items
		}
	case errors.As(err, &ute):
		return []api.ValidationItem{typeErrorItem(ute, body, where)}
	case errors.As(err, &se):
		return []api.ValidationItem{{Loc: []any{where, max(int(se.Offset)-1, 0)}, Msg: "JSON decode error", Type: "json_invalid"}}
	}
	return []api.ValidationItem{{Loc: []any{where}, Msg: "Value error, " + err.Error(), Type: "value_error"}}
}

// typeErrorItem is the 422 item of a value of the wrong type in body.
func typeErrorItem(ute *json.UnmarshalTypeError, body []byte, where string) api.ValidationItem {
	path := jsonPathAt(body, ute.Offset)
	if path == nil && ute.Field != "" {
		for _, p := range strings.Split(ute.Field, ".") {
			path = append(path, p)
		}
	}
	msg, typ := typeErrorText(ute)
	return api.ValidationItem{Loc: append([]any{where}, path...), Msg: msg, Type: typ}
}

// bodyAt returns the JSON value of body at path (object keys matched as
// encoding/json matches them: exactly, else case-insensitively; array
// indexes), trimmed; ok is false when there is none. Only for error
// reports: it decodes as it goes.
func bodyAt(body []byte, path []any) (raw json.RawMessage, ok bool) {
	if len(body) == 0 {
		return nil, false
	}
	raw = body
	for _, seg := range path {
		switch seg := seg.(type) {
		case string:
			var obj map[string]json.RawMessage
			if json.Unmarshal(raw, &obj) != nil {
				return nil, false
			}
			v, found := obj[seg]
			if !found {
				return nil, false
			}
			raw = v
		case int:
			var arr []json.RawMessage
			if json.Unmarshal(raw, &arr) != nil || seg < 0 || seg >= len(arr) {
				return nil, false
			}
			raw = arr[seg]
		default:
			return nil, false
		}
	}
	return bytes.TrimSpace(raw), true
}

// fieldErrorItem turns one failed binding tag into an item.
func fieldErrorItem(fe validator.FieldError, loc []any, root reflect.Type, tag string) api.ValidationItem {
	loc = append(loc, namespaceLoc(fe.StructNamespace(), root, tag)...)
	msg, typ := describeFieldError(fe)
	return api.ValidationItem{Loc: loc, Msg: msg, Type: typ}
}

// describeFieldError gives pydantic v2's msg and type for a failed tag.
func describeFieldError(fe validator.FieldError) (msg, typ string) {
	param := fe.Param()
	kind := fe.Kind()
	sized := kind == reflect.String || kind == reflect.Slice || kind == reflect.Array || kind == reflect.Map
	length := -1
	if v := reflect.ValueOf(fe.Value()); v.IsValid() {
		switch v.Kind() {
		case reflect.String:
			length = len([]rune(v.String()))
		case reflect.Slice, reflect.Array, reflect.Map:
			length = v.Len()
		}
	}
	if kind == reflect.Pointer || kind == reflect.Invalid {
		// A nil pointer failing any tag: validator runs the first tag even
		// without "required"; the honest report is that the field is absent.
		return "Field required", "missing"
	}
	switch fe.Tag() {
	case "required", "required_if", "required_unless", "required_with", "required_with_all",
		"required_without", "required_without_all":
		return "Field required", "missing"
	case "gte", "min":
		if sized {
			return tooShort(kind, param, length)
		}
		return "Input should be greater than or equal to " + param, "greater_than_equal"
	case "gt":
		if sized {
			return tooShort(kind, shiftInt(param, 1), length)
		}
		return "Input should be greater than " + param, "greater_than"
	case "lte", "max":
		if sized {
			return tooLong(kind, param, length)
		}
		return "Input should be less than or equal to " + param, "less_than_equal"
	case "lt":
		if sized {
			return tooLong(kind, shiftInt(param, -1), length)
		}
		return "Input should be less than " + param, "less_than"
	case "len":
		if sized {
			if n, err := strconv.Atoi(param); err == nil && length >= 0 && length < n {
				return tooShort(kind, param, length)
			}
			return tooLong(kind, param, length)
		}
	case "oneof":
		return "Input should be " + enumChoices(param, kind == reflect.String), "enum"
	case "notblank":
		return "String should have at least 1 non-blank character", "string_too_short"
	case "nonul":
		return "String should not contain NUL characters", "string_pattern_mismatch"
	}
	return "Value error, failed '" + fe.Tag() + "' check", "value_error"
}

func tooShort(kind reflect.Kind, n string, got int) (string, string) {
	switch kind {
	case reflect.String:
		return "String should have at least " + n + " " + pluralWord(n, "character"), "string_too_short"
	case reflect.Map:
		return "Dictionary should have at least " + n + " " + pluralWord(n, "item") + " after validation, not " + strconv.Itoa(got), "too_short"
	}
	return "List should have at least " + n + " " + pluralWord(n, "item") + " after validation, not " + strconv.Itoa(got), "too_short"
}

func tooLong(kind reflect.Kind, n string, got int) (string, string) {
	switch kind {
	case reflect.String:
		return "String should have at most " + n + " " + pluralWord(n, "character"), "string_too_long"
	case reflect.Map:
		return "Dictionary should have at most " + n + " " + pluralWord(n, "item") + " after validation, not " + strconv.Itoa(got), "too_long"
	}
	return "List should have at most " + n + " " + pluralWord(n, "item") + " after validation, not " + strconv.Itoa(got), "too_long"
}

func pluralWord(n, word string) string {
	if n == "1" {
		return word
	}
	return word + "s"
}

func shiftInt(param string, d int) string {
	n, err := strconv.Atoi(param)
	if err != nil {
		return param
	}
	return strconv.Itoa(n + d)
}

// choices renders a oneof parameter the way pydantic renders enum members:
// 'a', 'b' or 'c' (quoted only for strings).
func enumChoices(param string, quote bool) string {
	var vals []string
	for rest := strings.TrimSpace(param); rest != ""; rest = strings.TrimSpace(rest) {
		var v string
		if rest[0] == '\'' {
			if end := strings.IndexByte(rest[1:], '\''); end >= 0 {
				v, rest = rest[1:end+1], rest[end+2:]
			} else {
				v, rest = rest[1:], ""
			}
		} else if sp := strings.IndexAny(rest, " \t"); sp >= 0 {
			v, rest = rest[:sp], rest[sp:]
		} else {
			v, rest = rest, ""
		}
		if quote {
			v = "'" + v + "'"
		}
		vals = append(vals, v)
	}
	switch len(vals) {
	case 0:
		return "one of the allowed values"
	case 1:
		return vals[0]
	}
	return strings.Join(vals[:len(vals)-1], ", ") + " or " + vals[len(vals)-1]
}

// typeErrorText gives pydantic's msg and type for a JSON value of the wrong
// type.
func typeErrorText(ute *json.UnmarshalTypeError) (string, string) {
	t := derefType(ute.Type)
	if t == nil {
		return "Input should be a valid value", "value_error"
	}
	// A string or number left over after laxBody is one pydantic's lax
	// mode tried to read and could not.
	isNumber, isString := strings.HasPrefix(ute.Value, "number"), ute.Value == "string"
	switch t.Kind() {
	case reflect.Bool:
		if isNumber || isString {
			return "Input should be a valid boolean, unable to interpret input", "bool_parsing"
		}
		return "Input should be a valid boolean", "bool_type"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if isNumber {
			num := strings.TrimPrefix(ute.Value, "number ")
			if strings.HasPrefix(num, "-") && t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr {
				return "Input should be greater than or equal to 0", "greater_than_equal"
			}
			if f, err := strconv.ParseFloat(num, 64); err == nil && f != math.Trunc(f) {
				return "Input should be a valid integer, got a number with a fractional part", "int_from_float"
			}
			// An integral number out of the field's range: not an
			// integer this field takes.
		}
		if isString {
			return "Input should be a valid integer, unable to parse string as an integer", "int_parsing"
		}
		return "Input should be a valid integer", "int_type"
	case reflect.Float32, reflect.Float64:
		if isNumber { // out of range for the float type
			return "Input should be a finite number", "finite_number"
		}
		if isString {
			return "Input should be a valid number, unable to parse string as a number", "float_parsing"
		}
		return "Input should be a valid number", "float_type"
	case reflect.String:
		return "Input should be a valid string", "string_type"
	case reflect.Slice, reflect.Array:
		return "Input should be a valid list", "list_type"
	case reflect.Map:
		return "Input should be a valid dictionary", "dict_type"
	case reflect.Struct:
		return "Input should be a valid dictionary or object to extract fields from", "model_attributes_type"
	}
	return "Input should be a valid value", "value_error"
}

// syntaxErrorOffset finds where body stops being one JSON value, as the
// 0-based index Python's json.loads reports: the offending byte, the end of a
// truncated body, or the first byte of trailing data.
func syntaxErrorOffset(body []byte) int {
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw json.RawMessage
	err := dec.Decode(&raw)
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		// Offset counts the offending byte; Python's json (and so FastAPI)
		// reports the 0-based index of that byte.
		return max(int(se.Offset)-1, 0)
	case err != nil: // io.ErrUnexpectedEOF: truncated
		return len(body)
	}
	off := int(dec.InputOffset())
	for off < len(body) && (body[off] == ' ' || body[off] == '\t' || body[off] == '\n' || body[off] == '\r') {
		off++
	}
	return off
}

// jsonPathAt returns the path (object keys as strings, array indexes as ints)
// of the value that ends at or contains byte offset off, where encoding/json
// reported a type error. It returns nil if the body cannot be walked.
func jsonPathAt(body []byte, off int64) []any {
	if len(body) == 0 {
		return nil
	}
	type frame struct {
		array     bool
		index     int
		key       string
		expectKey bool
	}
	var stack []frame
	path := func() []any {
		p := make([]any, 0, len(stack))
		for _, f := range stack {
			if f.array {
				p = append(p, f.index)
			} else {
				p = append(p, f.key)
			}
		}
		return p
	}
	// valueDone advances the parent after one of its values has been read.
	valueDone := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].expectKey = true
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].expectKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			key, _ := tok.(string)
			stack[n-1].key = key
			stack[n-1].expectKey = false
			continue
		}
		if d, ok := tok.(json.Delim); ok && (d == ']' || d == '}') {
			stack = stack[:len(stack)-1]
			valueDone()
			continue
		}
		// tok starts (or is) a value.
		if dec.InputOffset() >= off {
			return path()
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, frame{array: d == '[', expectKey: d == '{'})
			continue
		}
		valueDone()
	}
}

// namespaceLoc converts a validator struct namespace such as
// "Req.Items[1].Name" into wire names: ["items", 1, "name"]. Field names are
// looked up on root (the bind destination) and renamed by tag; embedded
// structs without a tag are flattened, as encoding/json does.
func namespaceLoc(ns string, root reflect.Type, tag string) []any {
	t := derefType(root)
	segs := splitNamespace(ns)
	// validator prefixes the root type's name, except for anonymous structs.
	if t != nil && t.Name() != "" && len(segs) > 0 {
		segs = segs[1:]
	}
	var loc []any
	for _, s := range segs {
		if s.name != "" {
			if t != nil && t.Kind() == reflect.Struct {
				if f, ok := t.FieldByName(s.name); ok {
					name, explicit := wireName(f, tag)
					if !f.Anonymous || explicit {
						loc = append(loc, name)
					}
					t = derefType(f.Type)
				} else {
					loc = append(loc, s.name)
					t = nil
				}
			} else {
				loc = append(loc, s.name)
				t = nil
			}
		}
		for _, idx := range s.index {
			var kind reflect.Kind
			if t != nil {
				kind = t.Kind()
			}
			switch kind {
			case reflect.Slice, reflect.Array:
				n, err := strconv.Atoi(idx)
				if err != nil {
					loc = append(loc, idx)
				} else {
					loc = append(loc, n)
				}
				t = derefType(t.Elem())
			case reflect.Map:
				loc = append(loc, idx)
				t = derefType(t.Elem())
			default:
				if n, err := strconv.Atoi(idx); err == nil {
					loc = append(loc, n)
				} else {
					loc = append(loc, idx)
				}
				t = nil
			}
		}
	}
	return loc
}

type nsSegment struct {
	name  string
	index []string
}

// splitNamespace splits "A.B[1][k.x].C" into {A} {B [1 k.x]} {C}; dots inside
// brackets (map keys) do not split.
func splitNamespace(ns string) []nsSegment {
	var segs []nsSegment
	var cur nsSegment
	var name strings.Builder
	flush := func() {
		cur.name = name.String()
		if cur.name != "" || len(cur.index) > 0 {
			segs = append(segs, cur)
		}
		cur = nsSegment{}
		name.Reset()
	}
	for i := 0; i < len(ns); i++ {
		switch ns[i] {
		case '.':
			flush()
		case '[':
			end := strings.IndexByte(ns[i+1:], ']')
			if end < 0 {
				name.WriteString(ns[i:])
				i = len(ns)
				continue
			}
			cur.index = append(cur.index, ns[i+1:i+1+end])
			i += end + 1
		default:
			if len(cur.index) > 0 { // text after an index without a dot: keep it
				flush()
			}
			name.WriteByte(ns[i])
		}
	}
	flush()
	return segs
}

// wireName is the name a field has on the wire under tag, and whether the tag
// named it explicitly.
func wireName(f reflect.StructField, tag string) (string, bool) {
	name, _, _ := strings.Cut(f.Tag.Get(tag), ",")
	if name != "" && name != "-" {
		return name, true
	}
	return f.Name, false
}

func derefType(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// queryParseItems finds the query parameters that gin could not convert to
// their field's type, since gin's error does not say which one failed.
func queryParseItems(q url.Values, dst reflect.Type) []api.ValidationItem {
	t := derefType(dst)
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var items []api.ValidationItem
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, explicit := wireName(f, "form")
		if f.Tag.Get("form") == "-" {
			continue
		}
		ft := derefType(f.Type)
		if f.Anonymous && !explicit && ft.Kind() == reflect.Struct {
			items = append(items, queryParseItems(q, ft)...)
			continue
		}
		vals := q[name]
		if len(vals) == 0 {
			continue
		}
		if ft.Kind() == reflect.Slice || ft.Kind() == reflect.Array {
			et := derefType(ft.Elem())
			for j, v := range vals {
				if msg, typ, ok := checkQueryScalar(et, v); !ok {
					items = append(items, api.ValidationItem{Loc: []any{"query", name, j}, Msg: msg, Type: typ})
				}
			}
			continue
		}
		if msg, typ, ok := checkQueryScalar(ft, vals[0]); !ok {
			items = append(items, api.ValidationItem{Loc: []any{"query", name}, Msg: msg, Type: typ})
		}
	}
	return items
}

// checkQueryScalar parses s as pydantic would for type t: an empty value is
// a string, never a number or a boolean.
func checkQueryScalar(t reflect.Type, s string) (msg, typ string, ok bool) {
	const (
		intMsg   = "Input should be a valid integer, unable to parse string as an integer"
		floatMsg = "Input should be a valid number, unable to parse string as a number"
		boolMsg  = "Input should be a valid boolean, unable to interpret input"
	)
	if t == reflect.TypeFor[time.Duration]() {
		if _, err := time.ParseDuration(s); err != nil {
			return "Input should be a valid duration", "time_delta_parsing", false
		}
		return "", "", true
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if _, err := strconv.ParseInt(pydanticIntText(s), 10, t.Bits()); err != nil {
			return intMsg, "int_parsing", false
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, err := strconv.ParseUint(pydanticIntText(s), 10, t.Bits()); err != nil {
			return intMsg, "int_parsing", false
		}
	case reflect.Float32, reflect.Float64:
		if _, err := strconv.ParseFloat(strings.TrimSpace(s), t.Bits()); err != nil {
			return floatMsg, "float_parsing", false
		}
	case reflect.Bool:
		if _, ok := pydanticBool(s); !ok {
			return boolMsg, "bool_parsing", false
		}
	}
	return "", "", true
}

// pydanticIntText is s as pydantic v2 reads a string given for an
// integer, ready for strconv.ParseInt: surrounding whitespace is dropped
// and a fractional part of zeros only ("5.0", "5.") is cut, so " 5",
// "5.0" and, in a query, "+5" (whose "+" arrives as a space) are 5 there
// as in FastAPI; "5.5", "1e1" and "" stay unparsable. Whatever else s
// holds is left for ParseInt to refuse.
func pydanticIntText(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '.'); i > 0 && strings.Trim(s[i+1:], "0") == "" {
		s = s[:i]
	}
	return s
}

// pydanticBool parses a boolean string the way pydantic does.
func pydanticBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "t", "yes", "y", "on":
		return true, true
	case "0", "false", "f", "no", "n", "off":
		return false, true
	}
	return false, false
}

// normalizeQuery reads dst's query fields as FastAPI does: a scalar
// parameter given several times takes its last value (gin's binding takes
// the first), the boolean values pydantic accepts are rewritten into
// "true"/"false", which gin's strconv.ParseBool understands, and integers
// and numbers are read as pydantic reads them (pydanticIntText; a number
// is trimmed); unparsable values are left for the error.
func normalizeQuery(q url.Values, dst reflect.Type) {
	t := derefType(dst)
	if t == nil || t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Tag.Get("form") == "-" {
			continue
		}
		name, explicit := wireName(f, "form")
		ft := derefType(f.Type)
		if f.Anonymous && !explicit && ft.Kind() == reflect.Struct {
			normalizeQuery(q, ft)
			continue
		}
		if ft.Kind() == reflect.Slice || ft.Kind() == reflect.Array {
			ft = derefType(ft.Elem())
		} else if n := len(q[name]); n > 1 {
			q[name] = q[name][n-1:]
		}
		switch ft.Kind() {
		case reflect.Bool:
			for j, v := range q[name] {
				if b, ok := pydanticBool(v); ok && v != "" {
					q[name][j] = strconv.FormatBool(b)
				}
			}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			for j, v := range q[name] {
				q[name][j] = pydanticIntText(v) // unparsable values are left for the error
			}
		case reflect.Float32, reflect.Float64:
			for j, v := range q[name] {
				q[name][j] = strings.TrimSpace(v)
			}
		}
	}
}

// maxNullItems bounds the 422 items nullItems reports for one body.
const maxNullItems = 32

// nullItems finds the JSON nulls of body that dst's type does not take,
// which encoding/json would decode without complaint: a field given null
// is left as it was (so it would read as absent and take its default), an
// element of an array or a map value given null becomes a zero (a vector's
// component 0). pydantic takes None only where the model says Optional:
//
//   - a struct field takes null only when it is tagged nullable:"true"
//     (package api says which fields the contract makes Optional), whatever
//     its Go type: a *float64 with a default is `float = 0.85`, not Optional;
//   - an element or map value takes null only when its Go type can hold
//     nil (a pointer, an interface, a type decoding itself such as
//     json.RawMessage); no request body has such elements.
//
// Each refused null is a 422 item at its path ("body", field, index, …),
// worded as pydantic words a None for the type (nullItem), "input": null;
// at most maxNullItems of them, and the walk stops there (the answer is a
// 422 whatever else the body holds).
//
// Keys are matched as pydantic matches them (bindJSON has dropped the ones
// encoding/json would take only by folding case); of a key given twice the
// last counts, as in both. A nullable field whose last value is null is
// absent for pydantic (None, its default); encoding/json would keep an
// earlier value instead, since it ignores null for a string, a number or a
// bool, so bound is body without every occurrence of such a field's key.
// Otherwise bound is body itself.
//
// It reports no items, and body as bound, when the body does not scan
// (bindJSON then reports why). A body without a null outside its strings
// costs one scan (hasNull); one with nulls is walked along dst's type
// without being decoded, so a value no field reads is only skipped over.
func nullItems(body []byte, dst any) (items []api.ValidationItem, bound []byte) {
	t := reflect.TypeOf(dst)
	if t == nil || !hasNull(body) {
		return nil, body
	}
	w := nullWalk{body: body}
	w.value(skipSpace(body, 0), t, []any{"body"})
	if w.bad {
		return nil, body
	}
	if len(w.cuts) == 0 {
		return w.items, body
	}
	slices.SortFunc(w.cuts, func(x, y [2]int) int { return x[0] - y[0] })
	bound = make([]byte, 0, len(body))
	at := 0
	for _, c := range w.cuts {
		bound, at = append(bound, body[at:c[0]]...), c[1]
	}
	return w.items, append(bound, body[at:]...)
}

// hasNull reports whether body (valid JSON) holds a null value: outside its
// strings, only the literal null has an "n".
func hasNull(body []byte) bool {
	if !bytes.Contains(body, []byte("null")) {
		return false
	}
	for i := 0; i < len(body); {
		j := bytes.IndexAny(body[i:], `"n`)
		if j < 0 {
			return false
		}
		if i += j; body[i] == 'n' {
			return true
		}
		for i++; ; { // a string: on to its closing quote
			k := bytes.IndexAny(body[i:], `"\`)
			if k < 0 {
				return false
			}
			if i += k; body[i] == '"' {
				i++
				break
			}
			if i += 2; i >= len(body) { // a backslash and the byte it escapes
				return false
			}
		}
	}
	return false
}

// nullWalk is the state of one nullItems walk over body.
type nullWalk struct {
	body  []byte
	items []api.ValidationItem
	cuts  [][2]int // byte ranges of body that bound leaves out; disjoint
	bad   bool     // the body did not scan
}

// full reports whether the walk has found all the items it reports.
func (w *nullWalk) full() bool { return len(w.items) >= maxNullItems }

// value walks the value that starts at body[i], not a null, along type t
// and appends an item at loc for each null t does not take; see nullItems.
func (w *nullWalk) value(i int, t reflect.Type, loc []any) {
	t = derefType(t)
	if t == nil || customJSON(t) || w.full() || w.bad || i >= len(w.body) {
		return
	}
	at := func(key any) []any { return append(slices.Clip(loc), key) }
	// element walks an element or map value, which refuses null unless
	// its Go type can hold nil.
	element := func(start int, et reflect.Type, loc []any) {
		if w.body[start] != 'n' {
			w.value(start, et, loc)
		} else if nullRefused(et) && !w.full() {
			w.items = append(w.items, nullItem(et, loc))
		}
	}
	switch t.Kind() {
	case reflect.Struct:
		if w.body[i] != '{' {
			return
		}
		ms, ok := objectMembers(w.body, i)
		if !ok {
			w.bad = true
			return
		}
		fields := fieldsOf(t)
		last := map[string]int{} // the last member of each field's key
		for n, m := range ms {
			if _, ok := fields.byName[m.key]; ok {
				last[m.key] = n
			}
		}
		var absent map[string]bool
		for n, m := range ms {
			f, ok := fields.byName[m.key]
			switch {
			case !ok || last[m.key] != n:
				// not a field, or a value the next one of its key replaces
			case w.body[m.valStart] != 'n':
				w.value(m.valStart, f.Type, at(m.key))
			case f.Tag.Get("nullable") == "true":
				if absent == nil {
					absent = map[string]bool{}
				}
				absent[m.key] = true
			case !w.full():
				// A field refuses null whatever its Go type, a pointer too.
				w.items = append(w.items, nullItem(f.Type, at(m.key)))
			}
		}
		if absent != nil {
			w.cut(ms, absent)
		}
	case reflect.Slice, reflect.Array:
		if w.body[i] != '[' || isByteSlice(t) {
			return
		}
		scanned := arrayElements(w.body, i, func(n, start int) bool {
			if t.Kind() == reflect.Array && n >= t.Len() {
				return false // encoding/json drops the elements past the array's length
			}
			element(start, t.Elem(), at(n))
			return !w.full() && !w.bad
		})
		w.bad = w.bad || !scanned
	case reflect.Map:
		if w.body[i] != '{' {
			return
		}
		ms, ok := objectMembers(w.body, i)
		if !ok {
			w.bad = true
			return
		}
		last := make(map[string]int, len(ms))
		for n, m := range ms {
			last[m.key] = n
		}
		for n, m := range ms {
			if last[m.key] == n {
				element(m.valStart, t.Elem(), at(m.key))
			}
		}
	}
}

// cut leaves out of bound the members of ms (one object's) whose key is in
// drop, each with the comma that joins it to the others: the one before
// it, or after it when no member before it is kept.
func (w *nullWalk) cut(ms []member, drop map[string]bool) {
	kept := false // a member before this one is kept
	for n, m := range ms {
		switch {
		case !drop[m.key]:
			kept = true
		case kept:
			w.cuts = append(w.cuts, [2]int{ms[n-1].valEnd, m.valEnd})
		case n+1 < len(ms):
			w.cuts = append(w.cuts, [2]int{m.keyStart, ms[n+1].keyStart})
		default:
			w.cuts = append(w.cuts, [2]int{m.keyStart, m.valEnd})
		}
	}
}

// nullItem is pydantic's report of a None where a value of type t is
// required: "Input should be a valid number" (float_type) for a float,
// int_type, bool_type, string_type, list_type, dict_type (a map, or a
// json.RawMessage, which holds an object: a state_dict) or
// model_attributes_type (a struct).
func nullItem(t reflect.Type, loc []any) api.ValidationItem {
	msg, typ := "Input should be a valid dictionary", "dict_type"
	if derefType(t) != rawMessage {
		msg, typ = typeErrorText(&json.UnmarshalTypeError{Value: "null", Type: t})
	}
	return api.ValidationItem{Loc: loc, Msg: msg, Type: typ, Input: json.RawMessage("null")}
}

// customJSON reports whether encoding/json hands values of t to their own
// UnmarshalJSON or UnmarshalText, which see null themselves.
func customJSON(t reflect.Type) bool {
	ju, tu := reflect.TypeFor[json.Unmarshaler](), reflect.TypeFor[encoding.TextUnmarshaler]()
	pt := reflect.PointerTo(t)
	return t.Implements(ju) || pt.Implements(ju) || t.Implements(tu) || pt.Implements(tu)
}

// nullRefused reports whether a JSON null decoded into an element of type t
// would become a zero value instead of a nil.
func nullRefused(t reflect.Type) bool {
	k := t.Kind()
	return k != reflect.Pointer && k != reflect.Interface && !customJSON(t)
}

// isByteSlice reports whether encoding/json reads t as a base64 string.
func isByteSlice(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 && !customJSON(t.Elem())
}

// jsonContentType reports whether FastAPI reads a request body sent with
// this Content-Type as JSON: when there is none, or when it is
// application/json or application/<anything>+json. FastAPI hands any other
// body to pydantic as bytes, which a model refuses (422
// model_attributes_type): since FastAPI 0.65.2, so that a browser's
// cross-site "simple" request (text/plain, a form) is never read as JSON.
// The header is read as Python's email.message reads it: the part before
// the first ";", trimmed and lower-cased, is the type, and one that does
// not hold exactly one "/" is text/plain; the parameters are not looked at.
func jsonContentType(header string) bool {
	if header == "" {
		return true
	}
	mt, _, _ := strings.Cut(header, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if strings.Count(mt, "/") != 1 {
		return false
	}
	main, sub, _ := strings.Cut(mt, "/")
	return main == "application" && (sub == "json" || strings.HasSuffix(sub, "+json"))
}

// bindBody decodes body, valid JSON, into dst and validates it, as gin's
// binding.JSON.BindBody does with neither of its decoder options set (this
// server sets none), but with json.Unmarshal on the bytes already read:
// BindBody's decoder copies the body into a buffer of its own first, which
// cost an import of 20 MB some 65 MB more.
func bindBody(body []byte, dst any) error {
	if err := json.Unmarshal(body, dst); err != nil {
		return err
	}
	if binding.Validator == nil {
		return nil
	}
	return binding.Validator.ValidateStruct(dst)
}
