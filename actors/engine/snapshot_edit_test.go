package engine

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// leafEdit walks a decoded JSON value and applies one random structural edit
// at a random position: change a number, a string or a bool, truncate or
// duplicate an array, drop an object field.
func leafEdit(r *rand.Rand, v any) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			return x
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		// Deterministic order for reproducibility.
		for i := range keys {
			for j := i + 1; j < len(keys); j++ {
				if keys[j] < keys[i] {
					keys[i], keys[j] = keys[j], keys[i]
				}
			}
		}
		k := keys[r.IntN(len(keys))]
		if r.IntN(8) == 0 {
			delete(x, k)
			return x
		}
		x[k] = leafEdit(r, x[k])
		return x
	case []any:
		switch {
		case len(x) == 0:
			return x
		case r.IntN(6) == 0:
			return x[:r.IntN(len(x))]
		case r.IntN(6) == 0:
			return append(x, x[r.IntN(len(x))])
		}
		i := r.IntN(len(x))
		x[i] = leafEdit(r, x[i])
		return x
	case json.Number:
		vals := []string{"0", "-1", "1", "2", "0.5", "1e9", "-0", "64", "9999999999", "3.4e38", "1e-45"}
		return json.Number(vals[r.IntN(len(vals))])
	case string:
		vals := []string{"", "short_term", "long_term", "FILTER", "drifted", "shifting", "x", "dropped", "shadowed",
			"exploration", "0001-01-01T00:00:00Z", "2026-01-01T00:00:00+02:00", "\xff", "semvec-go/1"}
		return vals[r.IntN(len(vals))]
	case bool:
		return !x
	case nil:
		return []any{json.Number("1")}
	}
	return v
}

// TestImportRandomEdits re-signs thousands of randomly edited dicts: Import
// must never panic, and every accepted dict must re-export byte-identically
// and keep working.
func TestImportRandomEdits(t *testing.T) {
	small := New(DefaultConfig(4))
	small.AddAnchor([]float32{0, 0, 0, 1})
	small.AddTrigger(Trigger{Keyword: "k"})
	small.AddTrigger(Trigger{Embedding: []float32{0, 1, 0, 0}})
	small.PutEntity(Entity{Key: "a.b", Kind: "type", Value: "v"})
	small.PutEntity(Entity{Key: "c", Kind: "path", Value: "w"})
	small.Run(RunInput{Message: "m", MessageVec: []float32{1, 0, 0, 0}, Now: t0})
	small.Run(RunInput{Message: "n", MessageVec: []float32{0, 1, 0, 0}, Response: "r", ResponseVec: []float32{0, 0, 1, 0}, Now: t0})
	small.InjectMemory(InjectInput{Text: "long", Embedding: []float32{1, 1, 0, 0}, Tier: TierLongTerm})
	small.InjectMemory(InjectInput{Text: "mid", Embedding: []float32{1, 0, 1, 0}, Tier: TierMediumTerm})
	small.SetIsolation(IsolationPolicy{Level: LevelQuarantine, Exclusion: [][]float32{{0, 0, 0, 1}}, Allowlist: [][]float32{{1, 0, 0, 0}}})
	small.Run(RunInput{Message: "q", MessageVec: []float32{0, 0, 0, 1}, Now: t0})
	small.Run(RunInput{Message: "q2", MessageVec: []float32{0, 0, 0.1, 1}, Response: "ans", ResponseVec: []float32{0, 0, 1, 1}, Now: t0})
	base, _, _ := small.Export()
	var sn snapshot
	json.Unmarshal(base, &sn)
	sn.Checksum = ""
	canon, _ := json.Marshal(&sn)

	r := rand.New(rand.NewPCG(42, 42))
	accepted := 0
	const n = 3000
	for range n {
		dec := json.NewDecoder(bytes.NewReader(canon))
		dec.UseNumber()
		var m any
		dec.Decode(&m)
		for range 1 + r.IntN(3) {
			m = leafEdit(r, m)
		}
		raw, _ := json.Marshal(m)
		var edited snapshot
		if json.Unmarshal(raw, &edited) != nil {
			continue
		}
		c, err := json.Marshal(&edited)
		if err != nil {
			continue
		}
		dict := append(c[:len(c)-1:len(c)-1], []byte(`,"checksum":"`+sha256hex(c)+`"}`)...)
		s, err := Import(dict)
		if err != nil {
			continue
		}
		accepted++
		d1, _, err := s.Export()
		if want := governedDict(edited); err != nil || !bytes.Equal(d1, want) {
			t.Fatalf("accepted dict re-exports differently (%v):\n%s\nwant\n%s", err, dict, want)
		}
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if s2, err := UnmarshalBinary(b); err != nil {
			t.Fatalf("binary of an accepted import rejected: %v", err)
		} else if b2, _ := s2.MarshalBinary(); !bytes.Equal(b, b2) {
			t.Fatal("binary round trip differs")
		}
		v := []float32{0.5, 0.5, 0.5, 0.5}
		if _, err := s.Run(RunInput{Message: "x", MessageVec: v, Response: "y", ResponseVec: v, Now: t0}); err != nil {
			t.Fatal(err)
		}
		s.ReleaseQuarantine(t0)
		s.ContextItems(3, true, 10)
		s.InjectMemory(InjectInput{Text: "z", Embedding: v, Tier: TierLongTerm})
		s.Store("more", v, t0)
		s.Entities("a", 0)
		if _, _, err := s.Export(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d of %d edited dicts accepted", accepted, n)
	if accepted == 0 {
		t.Fatal("no edited dict was accepted: the test exercises nothing")
	}
}

// governedDict is the state_dict sn re-exports as after Import: with the
// configuration the server gives a new session of its dimension (the two
// behaviour switches kept), so unchanged when sn already had it.
func governedDict(sn snapshot) []byte {
	gov := DefaultConfig(sn.Config.Dim)
	gov.EnableTopicSwitch, gov.UseAttention = sn.Config.EnableTopicSwitch, sn.Config.UseAttention
	gov.ContextTopK, gov.ContextBudgetChars = sn.Config.ContextTopK, sn.Config.ContextBudgetChars
	sn.Config, sn.Checksum = gov, ""
	c, _ := json.Marshal(&sn)
	return append(c[:len(c)-1:len(c)-1], []byte(`,"checksum":"`+sha256hex(c)+`"}`)...)
}
