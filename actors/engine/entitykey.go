package engine

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Entity keys travel in URL paths (DELETE /v1/session/{id}/entities/{key}),
// where clients rewrite them before the server sees them: browsers (the URL
// standard), Go's url.ResolveReference, Python's httpx and requests and curl
// without --path-as-is remove dot segments, some stacks collapse "//", turn
// '\' into '/', strip control characters and white space at the ends of a URL,
// or decode "%xx" once more. A key a client would rewrite may address another
// resource (DELETE …/entities/.. became DELETE …/session/{id}/ and deleted the
// session). So a key is accepted only when no such rewrite can change it
// (see doc.go, "Entity keys"):
//
//   - not empty, at most maxEntityKeyChars characters, valid UTF-8;
//   - no white space at either end;
//   - no control character (Unicode Cc: C0, DEL, C1);
//   - none of '\\' (a separator to browsers), '%' (decoded again by some
//     stacks), '?' and '#' (end the path when a client does not escape);
//   - '/' separates segments; no segment may be empty (no leading or
//     trailing '/', no "//") or equal to "." or "..".
//
// Everything else (letters of any script, digits, spaces inside the key,
// '.', '_', '-', ':', '(', '@', …) is allowed: keys such as "src/pss/core.py",
// "pkg.Type.Method" and "a..b" are fine.

// entityKeyProblem returns why key is not an acceptable entity key, or ""
// when it is. It does not check the length (PutEntity and the snapshot
// decoders report that separately).
func entityKeyProblem(key string) string {
	if strings.TrimSpace(key) == "" {
		return "must not be empty"
	}
	if !utf8.ValidString(key) {
		return "must be valid UTF-8"
	}
	if r, _ := utf8.DecodeRuneInString(key); unicode.IsSpace(r) {
		return "must not start with white space"
	}
	if r, _ := utf8.DecodeLastRuneInString(key); unicode.IsSpace(r) {
		return "must not end with white space"
	}
	if msg := keyCharProblem(key); msg != "" {
		return msg
	}
	return keySegmentProblem(key)
}

// keyCharProblem reports the first forbidden character of key.
func keyCharProblem(key string) string {
	for _, r := range key {
		switch {
		case unicode.IsControl(r):
			return "must not contain control characters"
		case r == '\\' || r == '%' || r == '?' || r == '#':
			return "must not contain '" + string(r) + "'"
		}
	}
	return ""
}

// keySegmentProblem reports an empty, "." or ".." segment between slashes.
func keySegmentProblem(key string) string {
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return "must not start or end with '/' or contain '//'"
		case ".", "..":
			return "must not contain the path segment \"" + seg + "\""
		}
	}
	return ""
}
