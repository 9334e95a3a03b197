package engine

import (
	"net/url"
	"path"
	"strings"
	"testing"

	semvec "github.com/semvec-go/semvec"
)

// Keys a client would rewrite in DELETE /v1/session/{id}/entities/{key}.
var pathLikeKeys = []string{
	".", "..", "./x", "x/.", "x/..", "a/../b", "a/./b", "../../..", "../session",
	"a//b", "/a", "a/", "/", "//",
	`a\b`, `..\x`, "a%2fb", "%2e", "%2e%2e", ".%2e", "100%",
	"a?b", "a#b", "?", "#frag",
	"a\nb", "a\tb", "a\rb", "a\x00b", "a\x7fb", "a\u0085b", "\x1b[0m",
	" a", "a ", "\ta", "a\n", "\u00a0a", "a\u3000",
}

// Keys that survive every normalisation and must stay accepted.
var safeKeys = []string{
	"src/pss/core.py", "pkg.Type.Method", "PSS_State.update", "ünïcode/päth", "a.b", "a..b", "...", "....",
	".hidden", "a/.b", "a/..b", "a/b..", "x.", "MAX_CAPACITY", "foo(a, b)", "C++", "a b", "k:v", "user@host",
	"deployment.spec.replicas", "a/b/c/d", "~", "$HOME", "a;b", "a=b&c", "[0]", "x\u2028y",
}

func TestEntityKeyRule(t *testing.T) {
	s := newTestSession(t)
	for _, k := range pathLikeKeys {
		_, err := s.PutEntity(Entity{Key: k, Kind: "path", Value: "v"})
		wantErr(t, err, semvec.KindValidation, "key")
		if s.EntityCount() != 0 {
			t.Fatalf("%q stored", k)
		}
	}
	for _, k := range safeKeys {
		if _, err := s.PutEntity(Entity{Key: k, Kind: "path", Value: "v"}); err != nil {
			t.Fatalf("%q: %v", k, err)
		}
		checkKeySurvivesURLs(t, k)
	}
}

// TestImportRefusesPathLikeKeys: a state_dict cannot smuggle in a key that
// PutEntity refuses; nothing is imported.
func TestImportRefusesPathLikeKeys(t *testing.T) {
	s := newTestSession(t)
	s.PutEntity(Entity{Key: "placeholder", Kind: "path", Value: "v"})
	d, _, _ := s.Export()
	for _, k := range pathLikeKeys {
		bad := resign(t, d, func(m map[string]any) {
			m["entities"].([]any)[0].(map[string]any)["key"] = k
		})
		_, err := Import(bad)
		wantErr(t, err, semvec.KindInvalid, "")
		if k == ".." && !strings.Contains(err.Error(), `key ".." must not contain the path segment ".."`) {
			t.Fatalf("detail %q", err)
		}
	}
}

// TestSnapshotDropsPathLikeKeys: a passivation snapshot written before the
// rule existed still loads; its path-like keys are dropped, the rest kept.
func TestSnapshotDropsPathLikeKeys(t *testing.T) {
	s := newTestSession(t)
	for _, k := range []string{"a", "b", "c"} {
		s.PutEntity(Entity{Key: k, Kind: "path", Value: "v"})
	}
	s.entities[0].Key, s.entities[2].Key = "..", "x/." // as an old build could store them (still sorted)
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := UnmarshalBinary(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.Entities("", 0); len(got) != 1 || got[0].Key != "b" {
		t.Fatalf("entities after load: %+v", got)
	}
	if _, err := s2.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
}

// checkKeySurvivesURLs asserts that key, placed in an entity URL the ways
// clients do, reaches the server as the same key.
func checkKeySurvivesURLs(t testing.TB, key string) {
	t.Helper()
	const prefix = "/v1/session/x/entities/"
	p := prefix + key
	// Dot-segment removal and "//" collapsing (Go's path.Clean, curl,
	// httpx and requests remove dot segments the same way).
	if c := path.Clean(p); c != p {
		t.Fatalf("key %q: path.Clean gives %q", key, c)
	}
	// Concatenated without escaping, parsed by Go.
	u, err := url.Parse(p)
	if err != nil || u.Path != p || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		t.Fatalf("key %q: url.Parse gives path %q query %q fragment %q (%v)", key, u.Path, u.RawQuery, u.Fragment, err)
	}
	// Resolved against the session URL, raw and escaped per segment (as
	// Python's quote(key, safe="/") and most URL builders do).
	base, _ := url.Parse("https://h/v1/session/x/")
	for _, ref := range []string{"entities/" + key, "entities/" + escapeSegments(key)} {
		r, err := url.Parse(ref)
		if err != nil {
			t.Fatalf("key %q: %v", key, err)
		}
		if got := base.ResolveReference(r).Path; got != p {
			t.Fatalf("key %q: ResolveReference(%q) gives %q", key, ref, got)
		}
	}
	// The WHATWG URL parser of browsers and fetch.
	for _, raw := range []string{p, prefix + escapeSegments(key)} {
		if got := whatwgPath(raw); got != p {
			t.Fatalf("key %q: a browser sends %q as %q", key, raw, got)
		}
	}
	// Decoding once more changes nothing.
	if d, err := url.PathUnescape(key); err != nil || d != key {
		t.Fatalf("key %q: decodes to %q (%v)", key, d, err)
	}
}

// escapeSegments percent-encodes each segment of key, keeping the slashes.
func escapeSegments(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// whatwgPath models what the WHATWG URL standard does to an absolute path
// before the request leaves a browser, then the server's percent-decoding:
// C0 controls and spaces are stripped at both ends, tabs and newlines
// anywhere, '\' is a separator, and "." and ".." segments (also written
// "%2e") are resolved.
func whatwgPath(raw string) string {
	raw = strings.TrimFunc(raw, func(r rune) bool { return r <= ' ' })
	raw = strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(raw)
	var out []string
	segs := strings.Split(raw, "/")[1:]
	for i, seg := range segs {
		last := i == len(segs)-1
		switch strings.ToLower(seg) {
		case ".", "%2e":
			if last {
				out = append(out, "")
			}
		case "..", ".%2e", "%2e.", "%2e%2e":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, seg)
		}
	}
	p := "/" + strings.Join(out, "/")
	if d, err := url.PathUnescape(p); err == nil {
		return d
	}
	return p
}

// FuzzEntityKey: every key PutEntity accepts survives URL normalisation
// unchanged, and import agrees with PutEntity. The seeds run in go test.
func FuzzEntityKey(f *testing.F) {
	for _, k := range append(append([]string{}, pathLikeKeys...), safeKeys...) {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		s := New(DefaultConfig(4))
		if _, err := s.PutEntity(Entity{Key: key, Kind: "path", Value: "v"}); err != nil {
			if s.EntityCount() != 0 {
				t.Fatal("refused key stored")
			}
			return
		}
		stored := s.Entities("", 0)[0].Key
		checkKeySurvivesURLs(t, stored)
		d, _, err := s.Export()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Import(d); err != nil {
			t.Fatalf("key %q accepted by PutEntity, refused by Import: %v", stored, err)
		}
	})
}
