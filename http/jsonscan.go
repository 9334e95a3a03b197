package http

import (
	"encoding/json"
	"unicode/utf8"
)

// Reading the shape of a JSON body without decoding it: where each value
// starts and ends, and an object's keys. nullItems walks a body this way,
// so a value that no field reads costs one pass over its bytes and builds
// nothing. The body is valid JSON (bindJSON has checked it); on bytes that
// are not, these functions report failure (-1, false) and never index out
// of range.

// skipSpace returns the index of the first byte of b at or after i that
// is not JSON whitespace (len(b) if there is none).
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string whose opening quote is
// b[i], or -1.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			i++ // the escaped byte, a quote included
		}
	}
	return -1
}

// valueEnd returns the index just past the JSON value that starts at b[i],
// or -1.
func valueEnd(b []byte, i int) int {
	if i < 0 || i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				if i = stringEnd(b, i); i < 0 {
					return -1
				}
				i-- // the loop steps past the closing quote
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	// A number, true, false or null: up to the next delimiter.
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', ']', '}', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// member is one key and value of a JSON object in a body: the key's
// opening quote is at keyStart, the value spans [valStart, valEnd).
type member struct {
	key                        string
	keyStart, valStart, valEnd int
}

// objectMembers returns the members of the object whose '{' is b[i], in
// their order, duplicate keys kept. Keys are decoded as encoding/json
// decodes them (escapes read, invalid UTF-8 replaced). An object of more
// than maxMembers members does not scan (ok false), and nothing past that
// many is built.
func objectMembers(b []byte, i int) ([]member, bool) {
	var ms []member
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return ms, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, false
		}
		ke := stringEnd(b, i)
		if ke < 0 {
			return nil, false
		}
		m := member{key: keyString(b[i:ke]), keyStart: i}
		if i = skipSpace(b, ke); i >= len(b) || b[i] != ':' {
			return nil, false
		}
		m.valStart = skipSpace(b, i+1)
		if m.valEnd = valueEnd(b, m.valStart); m.valEnd < 0 {
			return nil, false
		}
		if len(ms) == maxMembers {
			return nil, false
		}
		ms = append(ms, m)
		switch i = skipSpace(b, m.valEnd); {
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		case i < len(b) && b[i] == '}':
			return ms, true
		default:
			return nil, false
		}
	}
}

// maxMembers bounds the members objectMembers builds for one object: far
// more than any request body's object has (a struct's fields, a map field's
// entries), and what a body's rewriting builds in all (maxBuiltValues). An
// object of 600,000 keys had cost 132 MB to scan.
const maxMembers = maxBuiltValues

// keyString decodes the quoted key (or string value) raw as encoding/json
// does; a plain ASCII one is its bytes.
func keyString(raw []byte) string {
	for _, c := range raw[1 : len(raw)-1] {
		if c == '\\' || c >= utf8.RuneSelf {
			var s string
			_ = json.Unmarshal(raw, &s) // fails only on bytes that are not JSON: then ""
			return s
		}
	}
	return string(raw[1 : len(raw)-1])
}

// arrayElements calls fn with the index and the start of each element of
// the array whose '[' is b[i], in order, until fn returns false. It reports
// false if the array does not scan.
func arrayElements(b []byte, i int, fn func(n, start int) bool) bool {
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return true
	}
	for n := 0; ; n++ {
		if i >= len(b) || !fn(n, i) {
			return i < len(b)
		}
		end := valueEnd(b, i)
		if end < 0 {
			return false
		}
		switch i = skipSpace(b, end); {
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		case i < len(b) && b[i] == ']':
			return true
		default:
			return false
		}
	}
}
