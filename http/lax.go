package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// laxBody rewrites body's scalar values into the JSON types of dst's fields
// where pydantic v2's lax mode (FastAPI's default) would convert them: an
// integer field takes an integral number (5.0, 1e2), a string holding an
// integer ("384", " 384", "384.0": pydanticIntText) and a boolean (1, 0); a number field takes a string
// holding a finite decimal number ("0.5") and a boolean; a boolean field
// takes 0 and 1 and the strings pydantic reads as booleans ("true", "yes",
// "on", "1", …). Strings are never made of numbers, as in pydantic (see
// its conversion table). It reports false when nothing needed a change (or the body
// does not decode), and bindJSON then reports the first decoding's error.
//
// bindJSON calls it only after encoding/json refused a value's type, so a
// well-typed body pays nothing. Keys are matched to fields exactly (see
// exactKeys), and the rewritten body keeps every key in its place,
// duplicates included, so that the one encoding/json takes is the same as
// before.
func laxBody(body []byte, dst reflect.Type) ([]byte, bool) {
	out, changed, _ := rewriteBody(body, dst, func(v any) (any, bool) { return laxValue(v, dst) })
	return out, changed // a body too complex to convert: its first wrong value is the 422
}

// rewriteBody reads body along type t (orderedReader: keys in order,
// numbers as written), lets rewrite change it and encodes the result; it
// reports false when rewrite changed nothing or the body does not scan, and
// errTooComplex when reading it would build more than maxBuiltValues values.
func rewriteBody(body []byte, t reflect.Type, rewrite func(v any) (any, bool)) ([]byte, bool, error) {
	left := maxBuiltValues
	i := skipSpace(body, 0)
	end := valueEnd(body, i)
	if end < 0 {
		return nil, false, nil
	}
	v, err := orderedReader{left: &left}.read(body[i:end], t)
	if errors.Is(err, errTooComplex) {
		return nil, false, err
	}
	if err != nil {
		return nil, false, nil
	}
	v, changed := rewrite(v)
	if !changed {
		return nil, false, nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, false, nil
	}
	return out, true, nil
}

// maxBuiltValues bounds the values (objects, arrays, keys, scalars) one
// reading of a body builds, so that a body's rewriting costs a bounded
// amount of memory and time whatever its size: a built value costs tens of
// bytes, and a 4 MiB array of strings where numbers belong took ~90 MB and
// a second of CPU to read. Arrays of scalars that need no conversion are
// not built (plainScalars), so no valid body comes near the bound.
const maxBuiltValues = 1 << 16

// errTooComplex says a body would build more than maxBuiltValues values.
var errTooComplex = errors.New("the body holds too many values to convert")

// object is a JSON object with its keys in their order (duplicates kept).
type object struct {
	keys []string
	vals []any
}

func (o *object) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, k := range o.keys {
		if i > 0 {
			b = append(b, ',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, kb...), ':'), vb...)
	}
	return append(b, '}'), nil
}

// orderedReader reads a body along a type, building at most *left more
// values (the count is shared with the readers of its parts).
type orderedReader struct {
	left *int
}

// errNotJSON: a body that does not scan (bindJSON has checked it is JSON).
var errNotJSON = errors.New("the body is not JSON")

// read reads the JSON value b (its bytes, from a body that is valid JSON)
// along type t: an object is an *object, an array a []any, a scalar what
// encoding/json's Decoder.Token gives (a json.Number for a number). A value
// that t has no place for is kept as its json.RawMessage, read over but not
// built: under a key no field of a struct has exactly (the walks change no
// such value, and exactKeys drops the ones that fold to a field), of a type
// decoding itself, a base64 []byte, or where t is nil; so is an array of
// scalars that are all of the JSON type t's elements take (plainScalars),
// which no walk changes either. Its depth is bounded by encoding/json's own
// (json.Valid has checked the body).
func (r orderedReader) read(b []byte, t reflect.Type) (any, error) {
	if t = derefType(t); t == nil || customJSON(t) || isByteSlice(t) {
		return json.RawMessage(b), nil
	}
	if et := scalarElem(t); et != nil && plainScalars(b, et.Kind()) {
		return json.RawMessage(b), nil
	}
	if *r.left--; *r.left < 0 {
		return nil, errTooComplex
	}
	switch b[0] {
	case '{':
		ms, ok := objectMembers(b, 0)
		if !ok { // the body is valid JSON: an object of more than maxMembers
			return nil, errTooComplex
		}
		if *r.left -= len(ms); *r.left < 0 { // the keys
			return nil, errTooComplex
		}
		o := &object{keys: make([]string, 0, len(ms)), vals: make([]any, 0, len(ms))}
		for _, m := range ms {
			var vt reflect.Type // nil: not built
			switch t.Kind() {
			case reflect.Struct:
				if f, ok := jsonField(t, m.key); ok {
					vt = f.Type
				}
			case reflect.Map:
				vt = t.Elem()
			}
			v, err := r.read(b[m.valStart:m.valEnd], vt)
			if err != nil {
				return nil, err
			}
			o.keys, o.vals = append(o.keys, m.key), append(o.vals, v)
		}
		return o, nil
	case '[':
		var et reflect.Type // nil: not built
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			et = t.Elem()
		}
		a := []any{}
		var err error
		if !arrayElements(b, 0, func(_, start int) bool {
			end := valueEnd(b, start)
			if end < 0 {
				err = errNotJSON
				return false
			}
			var v any
			if v, err = r.read(b[start:end], et); err != nil {
				return false
			}
			a = append(a, v)
			return true
		}) && err == nil {
			err = errNotJSON
		}
		return a, err
	case '"':
		return keyString(b), nil
	case 't', 'f':
		return b[0] == 't', nil
	case 'n':
		return nil, nil
	}
	return json.Number(b), nil
}

// scalarElem returns the element type of t when t is a slice or array of
// numbers, booleans or strings (not a base64 []byte); else nil.
func scalarElem(t reflect.Type) reflect.Type {
	if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
		return nil
	}
	et := derefType(t.Elem())
	if customJSON(et) || isByteSlice(t) {
		return nil
	}
	switch et.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Bool, reflect.String:
		return et
	}
	return nil
}

// plainScalars reports whether raw is a JSON array each of whose elements
// is null or of the JSON type elements of kind k take as they are (laxValue
// changes none of them): an integer literal for an integer kind, a number
// for a float kind, true or false for a bool, a string for a string.
func plainScalars(raw []byte, k reflect.Kind) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return false
	}
	plain := true
	ok := arrayElements(raw, i, func(_, start int) bool {
		c := raw[start]
		switch {
		case c == 'n':
		case k == reflect.Bool:
			plain = c == 't' || c == 'f'
		case k == reflect.String:
			plain = c == '"'
		case k == reflect.Float32 || k == reflect.Float64:
			plain = c == '-' || c >= '0' && c <= '9'
		default: // an integer kind: digits, perhaps a sign, nothing else
			end := valueEnd(raw, start)
			plain = end > start && strings.Trim(string(raw[start:end]), "-0123456789") == ""
		}
		return plain
	})
	return ok && plain
}

// laxValue converts v (read by readOrdered) towards type t; see laxBody.
func laxValue(v any, t reflect.Type) (any, bool) {
	t = derefType(t)
	if t == nil || customJSON(t) {
		return v, false
	}
	switch t.Kind() {
	case reflect.Struct:
		o, ok := v.(*object)
		if !ok {
			return v, false
		}
		changed := false
		for i, k := range o.keys {
			f, ok := jsonField(t, k)
			if !ok {
				continue
			}
			if nv, c := laxValue(o.vals[i], f.Type); c {
				o.vals[i], changed = nv, true
			}
		}
		return o, changed
	case reflect.Slice, reflect.Array:
		a, ok := v.([]any)
		if !ok || isByteSlice(t) {
			return v, false
		}
		changed := false
		for i, e := range a {
			if ne, c := laxValue(e, t.Elem()); c {
				a[i], changed = ne, true
			}
		}
		return a, changed
	case reflect.Map:
		o, ok := v.(*object)
		if !ok {
			return v, false
		}
		changed := false
		for i, e := range o.vals {
			if ne, c := laxValue(e, t.Elem()); c {
				o.vals[i], changed = ne, true
			}
		}
		return o, changed
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return laxInt(v)
	case reflect.Float32, reflect.Float64:
		if b, ok := v.(bool); ok {
			return boolNumber(b), true
		}
		if s, ok := v.(string); ok {
			s = strings.TrimSpace(s)
			decimal := strings.Trim(s, "0123456789+-.eE") == "" // no hex, inf or nan
			f, err := strconv.ParseFloat(s, 64)
			if err == nil && decimal && !math.IsInf(f, 0) {
				return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), true
			}
		}
	case reflect.Bool:
		switch x := v.(type) {
		case string:
			if b, ok := pydanticBool(x); ok {
				return b, true
			}
		case json.Number:
			if f, err := x.Float64(); err == nil && (f == 0 || f == 1) {
				return f == 1, true
			}
		}
	}
	return v, false
}

// laxInt is laxValue for an integer field.
func laxInt(v any) (any, bool) {
	switch x := v.(type) {
	case bool:
		return boolNumber(x), true
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return v, false
		}
		f, err := x.Float64()
		if err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return json.Number(strconv.FormatInt(int64(f), 10)), true
		}
	case string:
		if n, err := strconv.ParseInt(pydanticIntText(x), 10, 64); err == nil {
			return json.Number(strconv.FormatInt(n, 10)), true
		}
	}
	return v, false
}

func boolNumber(b bool) json.Number {
	if b {
		return "1"
	}
	return "0"
}

// jsonField finds the field of struct type t whose wire name is key
// exactly, as pydantic matches keys (bindJSON has dropped the keys that
// encoding/json would have matched only by folding case, exactKeys); fields
// of embedded structs count as t's own.
func jsonField(t reflect.Type, key string) (reflect.StructField, bool) {
	f, ok := fieldsOf(t).byName[key]
	return f, ok
}

// foldsToField reports whether key names a field of struct type t only
// when case is ignored, as encoding/json matches it (which also folds "ſ"
// to "s" and the Kelvin sign to "k").
func foldsToField(t reflect.Type, key string) bool {
	for _, name := range fieldsOf(t).names {
		if strings.EqualFold(name, key) {
			return true
		}
	}
	return false
}

// structFields is what the body walks (nullItems, exactKeys, laxBody) need
// to know of a struct type's fields, found once per type: every key is
// looked up, and reflect.VisibleFields builds a new slice at each call.
type structFields struct {
	// byName holds the fields by wire name, as jsonField matches them: the
	// first of VisibleFields' order, embedded untagged structs flattened.
	byName map[string]reflect.StructField
	// names holds the wire names foldsToField compares with.
	names []string
}

// fieldCache maps a struct type (reflect.Type) to its *structFields.
//
// Besides validatorOnce, it is the package's only mutable package-level
// variable. It is safe to share because it is only a memo of a pure
// function: an entry is computed from its type alone, so it is the same for
// every Server and every caller, and it is never changed once stored (two
// racing callers compute equal values and LoadOrStore keeps one; readers
// only read). It holds one entry per struct type that a bound body's type
// reaches, a set fixed at compile time, so it does not grow with traffic.
var fieldCache sync.Map

// fieldsOf returns t's field lookup (t a struct type); its maps and slices
// must not be changed.
func fieldsOf(t reflect.Type) *structFields {
	if sf, ok := fieldCache.Load(t); ok {
		return sf.(*structFields)
	}
	sf := &structFields{byName: map[string]reflect.StructField{}}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Tag.Get("json") == "-" {
			continue
		}
		name, _ := wireName(f, "json")
		sf.names = append(sf.names, name)
		if f.Anonymous && f.Tag.Get("json") == "" && derefType(f.Type).Kind() == reflect.Struct {
			continue // its fields are among VisibleFields
		}
		if _, dup := sf.byName[name]; !dup {
			sf.byName[name] = f
		}
	}
	actual, _ := fieldCache.LoadOrStore(t, sf)
	return actual.(*structFields)
}

// exactKeys returns body without the object keys that encoding/json would
// match to a field of dst only by folding case. pydantic matches keys
// exactly and ignores the others, so {"Reset_Context": true} leaves a
// semvec session alone, where encoding/json would read it as reset_context
// and wipe the session; {"Message": "x"} is a missing message, not a
// message. It reports false when no key has to go: always, without
// decoding, for a body none of whose keys holds an upper-case letter, an
// escape or a non-ASCII byte (foldableKey), the common case even when the
// values are prose. A body too large to rewrite (errTooComplex) is an
// error: its keys cannot be left as they are.
func exactKeys(body []byte, dst reflect.Type) ([]byte, bool, error) {
	if !foldableKey(body) {
		return nil, false, nil
	}
	return rewriteBody(body, dst, func(v any) (any, bool) { return dropFolded(v, dst) })
}

// foldableKey reports whether an object key of body (valid JSON) holds an
// upper-case ASCII letter, an escape or a non-ASCII byte. Every field's
// wire name is lower-case ASCII (TestWireNamesAreLowerCase), so only such a
// key can name a field by folding case alone. It reads body once, without
// decoding it: a string is a key when a colon follows it.
func foldableKey(body []byte) bool {
	for i := 0; i < len(body); i++ {
		if body[i] != '"' {
			continue
		}
		foldable := false
		for i++; body[i] != '"'; i++ {
			switch c := body[i]; {
			case c == '\\':
				foldable = true
				i++ // the escaped byte, a quote included
			case c >= 'A' && c <= 'Z' || c >= utf8.RuneSelf:
				foldable = true
			}
		}
		if !foldable {
			continue
		}
		rest := bytes.TrimLeft(body[i+1:], " \t\r\n")
		if len(rest) > 0 && rest[0] == ':' {
			return true
		}
	}
	return false
}

// dropFolded removes, from v (read by readOrdered) and the values nested in
// it, the keys that name a field of the struct type in their place only by
// folding case; see exactKeys.
func dropFolded(v any, t reflect.Type) (any, bool) {
	t = derefType(t)
	if t == nil || customJSON(t) {
		return v, false
	}
	changed := false
	switch t.Kind() {
	case reflect.Struct:
		o, ok := v.(*object)
		if !ok {
			return v, false
		}
		kept := &object{}
		for i, k := range o.keys {
			f, exact := jsonField(t, k)
			if !exact && foldsToField(t, k) {
				changed = true
				continue
			}
			val := o.vals[i]
			if exact {
				if nv, c := dropFolded(val, f.Type); c {
					val, changed = nv, true
				}
			}
			kept.keys, kept.vals = append(kept.keys, k), append(kept.vals, val)
		}
		return kept, changed
	case reflect.Slice, reflect.Array:
		a, ok := v.([]any)
		if !ok || isByteSlice(t) {
			return v, false
		}
		for i, e := range a {
			if ne, c := dropFolded(e, t.Elem()); c {
				a[i], changed = ne, true
			}
		}
	case reflect.Map:
		if o, ok := v.(*object); ok {
			for i, e := range o.vals {
				if ne, c := dropFolded(e, t.Elem()); c {
					o.vals[i], changed = ne, true
				}
			}
		}
	}
	return v, changed
}
