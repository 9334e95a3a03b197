package http

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// laxBody rewrites body's scalar values into the JSON types of dst's fields
// where pydantic v2's lax mode (FastAPI's default) would convert them: an
// integer field takes an integral number (5.0, 1e2), a string holding an
// integer ("384") and a boolean (1, 0); a number field takes a string
// holding a finite decimal number ("0.5") and a boolean; a boolean field
// takes 0 and 1 and the strings pydantic reads as booleans ("true", "yes",
// "on", "1", …). Strings are never made of numbers, as in pydantic (see
// its conversion table). It reports false when nothing needed a change (or the body
// does not decode), and bindJSON then reports the first decoding's error.
//
// bindJSON calls it only after encoding/json refused a value's type, so a
// well-typed body pays nothing. Keys are matched to fields as encoding/json
// matches them (the exact name, else case-insensitively), and the rewritten
// body keeps every key in its place, duplicates included, so that the one
// encoding/json takes is the same as before.
func laxBody(body []byte, dst reflect.Type) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	v, err := readOrdered(dec)
	if err != nil {
		return nil, false
	}
	v, changed := laxValue(v, dst)
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

// readOrdered reads one JSON value from dec (UseNumber): an object is an
// *object, an array a []any, a scalar what dec.Token gives. Its depth is
// bounded by encoding/json's own (bindJSON has checked the body is valid).
func readOrdered(dec *json.Decoder) (any, error) {
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
			v, err := readOrdered(dec)
			if err != nil {
				return nil, err
			}
			o.keys, o.vals = append(o.keys, k), append(o.vals, v)
		}
		_, err := dec.Token() // '}'
		return o, err
	case json.Delim('['):
		a := []any{}
		for dec.More() {
			v, err := readOrdered(dec)
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
		if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
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

// jsonField finds the field of struct type t that encoding/json fills from
// key: the exact name first, else the first whose name matches
// case-insensitively; fields of embedded structs count as t's own.
func jsonField(t reflect.Type, key string) (reflect.StructField, bool) {
	var fold reflect.StructField
	found := false
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous && f.Tag.Get("json") == "" && derefType(f.Type).Kind() == reflect.Struct {
			continue
		}
		if f.Tag.Get("json") == "-" {
			continue
		}
		name, _ := wireName(f, "json")
		if name == key {
			return f, true
		}
		if !found && strings.EqualFold(name, key) {
			fold, found = f, true
		}
	}
	return fold, found
}
