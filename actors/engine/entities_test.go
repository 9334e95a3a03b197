package engine

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	semvec "github.com/semvec-go/semvec"
)

func TestEntities(t *testing.T) {
	s := newTestSession(t)
	put := func(e Entity) int {
		t.Helper()
		n, err := s.PutEntity(e)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	put(Entity{Key: "PSS_State.update", Kind: "signature", Value: "def update(self, embedding, text)", Importance: 1.5})
	put(Entity{Key: "src/pss/core.py", Kind: "path", Value: "src/pss/core.py"})
	if n := put(Entity{Key: "MAX_CAPACITY", Kind: "constant", Value: "MAX_CAPACITY = 200", Context: "memory cap"}); n != 3 {
		t.Fatalf("size %d", n)
	}
	// Last write wins, access count kept.
	s.Entities("capacity", 0)
	if n := put(Entity{Key: "MAX_CAPACITY", Kind: "constant", Value: "MAX_CAPACITY = 300"}); n != 3 {
		t.Fatalf("overwrite changed size: %d", n)
	}
	all := s.Entities("", 0)
	keys := []string{}
	for _, e := range all {
		keys = append(keys, e.Key)
	}
	if !slices.Equal(keys, []string{"MAX_CAPACITY", "PSS_State.update", "src/pss/core.py"}) {
		t.Fatalf("order %v", keys)
	}
	if all[0].Value != "MAX_CAPACITY = 300" || all[0].AccessCount != 1 || all[0].Importance != DefaultImportance {
		t.Fatalf("overwrite: %+v", all[0])
	}
	// Token overlap: '.', '/', '_' and camelCase split tokens.
	got := s.Entities("how does the update method of PSS state work?", 0)
	if len(got) != 2 || got[0].Key != "PSS_State.update" || got[0].AccessCount != 1 || got[1].Key != "src/pss/core.py" {
		t.Fatalf("query (pss+state+update beats pss alone): %+v", got)
	}
	if got := s.Entities("open core.py please", 0); len(got) != 1 || got[0].Kind != "path" {
		t.Fatalf("path query: %+v", got)
	}
	if got := s.Entities("nothing relevant here", 0); len(got) != 0 {
		t.Fatalf("no match: %+v", got)
	}
	if got := s.Entities("", 2); len(got) != 2 {
		t.Fatalf("limit: %d", len(got))
	}
	var toks []string
	tokens("parseHTTPConfig my_var.field/x-y 42", func(s string) { toks = append(toks, s) })
	if strings.Join(toks, ",") != "parse,httpconfig,my,var,field,42" {
		t.Fatalf("tokens %v", toks)
	}
	// Unknown kind: 400 listing the kinds.
	_, err := s.PutEntity(Entity{Key: "k", Kind: "macro", Value: "v"})
	wantErr(t, err, semvec.KindInvalid, "")
	if !strings.Contains(err.Error(), "variable, function, class, path, error, signature, constant, type") {
		t.Fatalf("detail %v", err)
	}
	if !s.DeleteEntity("MAX_CAPACITY") || s.DeleteEntity("MAX_CAPACITY") || s.EntityCount() != 2 {
		t.Fatal("delete")
	}
	k := EntityKinds()
	k[0] = "changed"
	if EntityKinds()[0] != "variable" {
		t.Fatal("EntityKinds is mutable")
	}
}

func TestEntityEviction(t *testing.T) {
	cfg := DefaultConfig(testDim)
	cfg.MaxEntities = 3
	s := New(cfg)
	s.PutEntity(Entity{Key: "a", Kind: "type", Value: "1", Importance: 2})
	s.PutEntity(Entity{Key: "b", Kind: "type", Value: "1", Importance: 0.5})
	s.PutEntity(Entity{Key: "c", Kind: "type", Value: "1", Importance: 0.5})
	if n, _ := s.PutEntity(Entity{Key: "d", Kind: "type", Value: "1", Importance: 0.1}); n != 3 {
		t.Fatalf("size %d", n)
	}
	// b: lowest importance among the old entries, and older than c.
	var keys []string
	for _, e := range s.Entities("", 0) {
		keys = append(keys, e.Key)
	}
	if !slices.Equal(keys, []string{"a", "c", "d"}) {
		t.Fatalf("after eviction %v", keys)
	}
	for i := range 10 {
		s.PutEntity(Entity{Key: fmt.Sprint("k", i), Kind: "type", Value: "v"})
	}
	if s.EntityCount() != 3 {
		t.Fatal("cap")
	}
}

// An unknown kind is quoted in the error, at most maxKindQuoteBytes of it:
// the kind has no length limit of its own, and 4 MiB of '<' was answered
// with a detail of 24 MB.
func TestUnknownKindIsQuotedBounded(t *testing.T) {
	s := newTestSession(t)
	_, err := s.PutEntity(Entity{Key: "k", Kind: strings.Repeat("é", 1<<20), Value: "v"})
	if semvec.KindOf(err) != semvec.KindInvalid {
		t.Fatalf("%v, want KindInvalid", err)
	}
	if msg := err.Error(); len(msg) > maxKindQuoteBytes+200 || !utf8.ValidString(msg) || !strings.Contains(msg, "allowed: ") {
		t.Errorf("an error of %d bytes: %.300s", len(msg), msg)
	}
	if s.EntityCount() != 0 {
		t.Errorf("%d entities, want none", s.EntityCount())
	}
}
