package http

import (
	"bytes"
	"encoding/json"
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
	return rewriteBody(body, dst, func(v any) (any, bool) { return laxValue(v, dst) })
}

// rewriteBody reads body along type t (readOrdered: keys in order, numbers
// as written), lets rewrite change it and encodes the result; it reports
// false when rewrite changed nothing or the body does not decode.
func rewriteBody(body []byte, t reflect.Type, rewrite func(v any) (any, bool)) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	v, err := readOrdered(dec, t)
	if err != nil {
		return nil, false
	}
	v, changed := rewrite(v)
	if !changed {
		return nil, false
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	return out, true
}

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

// readOrdered reads one JSON value from dec (UseNumber) along type t: an
// object is an *object, an array a []any, a scalar what dec.Token gives.
// A value that t has no place for is kept as its json.RawMessage, read
// over but not built: under a key no field of a struct has exactly (the
// walks change no such value, and exactKeys drops the ones that fold to a
// field), of a type decoding itself, a base64 []byte, or where t is nil.
// Its depth is bounded by encoding/json's own (bindJSON has checked the
// body is valid).
func readOrdered(dec *json.Decoder, t reflect.Type) (any, error) {
	if t = derefType(t); t == nil || customJSON(t) || isByteSlice(t) {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		return raw, err
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		o := &object{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			var vt reflect.Type // nil: not built
			switch t.Kind() {
			case reflect.Struct:
				if f, ok := jsonField(t, k); ok {
					vt = f.Type
				}
			case reflect.Map:
				vt = t.Elem()
			}
			v, err := readOrdered(dec, vt)
			if err != nil {
				return nil, err
			}
			o.keys, o.vals = append(o.keys, k), append(o.vals, v)
		}
		_, err := dec.Token() // '}'
		return o, err
	case json.Delim('['):
		var et reflect.Type // nil: not built
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			et = t.Elem()
		}
		a := []any{}
		for dec.More() {
			v, err := readOrdered(dec, et)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token() // ']'
		return a, err
	}
	return tok, nil
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
// values are prose.
func exactKeys(body []byte, dst reflect.Type) ([]byte, bool) {
	if !foldableKey(body) {
		return nil, false
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
