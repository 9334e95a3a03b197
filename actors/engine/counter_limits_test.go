package engine

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	semvec "github.com/semvec-go/semvec"
)

// counterEdits sets every counter of a state_dict (decoded with UseNumber)
// to v: the turn, next_seq, and each memory's access count, access weight
// and merged items and each entity's access count. Memory turns and last
// accesses stay as they are (they are bounded by the turn).
func counterEdits(v string) map[string]func(m map[string]any) {
	n := json.Number(v)
	each := func(list, field string) func(m map[string]any) {
		return func(m map[string]any) {
			for _, x := range m[list].([]any) {
				x.(map[string]any)[field] = n
			}
		}
	}
	return map[string]func(m map[string]any){
		"turn":                 func(m map[string]any) { m["turn"] = n },
		"next_seq":             func(m map[string]any) { m["next_seq"] = n },
		"memory access_count":  each("memories", "access_count"),
		"memory access_weight": each("memories", "access_weight"),
		"memory merged":        each("memories", "merged"),
		"entity access_count":  each("entities", "access_count"),
	}
}

// TestCountersAtTheLimitStayLoadable: a state imported with every counter at
// the largest value Import accepts keeps running (turns with a trigger,
// stores, injections that merge into existing memories and long-term
// clusters, context reads, entity writes and lookups), and what it becomes
// still exports, imports, saves and loads: the counters stop at the limit
// and the sequence numbers are renumbered in order (issue: the next turn
// pushed the turn or a wrapped sequence number past the decoders, and the
// session could never be loaded again).
func TestCountersAtTheLimitStayLoadable(t *testing.T) {
	d, _, err := richSession(t).Export()
	if err != nil {
		t.Fatal(err)
	}
	limit := fmt.Sprint(maxTurn)
	at := resign(t, d, func(m map[string]any) {
		for _, edit := range counterEdits(limit) {
			edit(m)
		}
	})
	s, err := Import(at)
	if err != nil {
		t.Fatalf("counters at the limit refused: %v", err)
	}
	order := seqOrder(s)
	if err := s.SetIsolation(IsolationPolicy{Level: LevelOpen}); err != nil {
		t.Fatal(err)
	}

	r := rand.New(rand.NewPCG(5, 5))
	now := t0.Add(24 * time.Hour)
	for i := range 12 {
		msg := fmt.Sprintf("CRITICAL kubernetes deployment pods question %d", i)
		res, err := s.Run(RunInput{Message: msg, MessageVec: emb(msg), Response: "answer " + msg,
			ResponseVec: emb("answer " + msg), Now: now})
		if err != nil || res.Isolation != "" || res.Turn != maxTurn-1 {
			t.Fatalf("turn %d: %+v %v", i, res, err)
		}
	}
	if _, _, err := s.Store("a stored answer", emb("a stored answer"), now); err != nil {
		t.Fatal(err)
	}
	// The same text again merges into it; long-term injections beyond the
	// cap merge into clusters, each with the largest access count.
	for range 3 {
		if _, err := s.InjectMemory(InjectInput{Text: "long-term fact", Embedding: emb("long-term fact"),
			Tier: TierLongTerm, AccessCount: maxTurn, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range s.cfg.LongTermCap + 3 {
		if _, err := s.InjectMemory(InjectInput{Text: fmt.Sprint("fact ", i), Embedding: randUnit(r, testDim),
			Tier: TierLongTerm, AccessCount: maxTurn, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	s.ContextItems(50, false, 0)
	s.Entities("deployment", 0)
	if _, err := s.PutEntity(Entity{Key: "new.key", Kind: "type", Value: "v"}); err != nil {
		t.Fatal(err)
	}

	if s.Turn() != maxTurn || s.lastTriggerTurn != maxTurn-1 {
		t.Fatalf("turn %d, last trigger turn %d: the turn counter must stop at %d", s.Turn(), s.lastTriggerTurn, maxTurn)
	}
	if s.nextSeq > 1000 {
		t.Fatalf("next_seq %d was not renumbered", s.nextSeq)
	}
	// Renumbering kept the order of what was there before.
	var kept []string
	for _, k := range seqOrder(s) {
		if slices.Contains(order, k) {
			kept = append(kept, k)
		}
	}
	var want []string
	for _, k := range order {
		if slices.Contains(kept, k) {
			want = append(want, k)
		}
	}
	if !slices.Equal(kept, want) {
		t.Fatalf("renumbering changed the order:\n%v\n%v", kept, want)
	}

	d2, _, err := s.Export()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Import(d2); err != nil {
		t.Fatalf("the session's own export does not import: %v", err)
	}
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := UnmarshalBinary(b)
	if err != nil {
		t.Fatalf("the session's checkpoint does not load: %v", err)
	}
	var sn snapshot
	if err := json.Unmarshal(d2, &sn); err != nil {
		t.Fatal(err)
	}
	if sn.Turn != maxTurn {
		t.Fatalf("turn %d", sn.Turn)
	}
	for _, m := range sn.Memories {
		if m.AccessCount > maxTurn || m.Merged > maxTurn || m.AccessWeight > maxTurn {
			t.Fatalf("memory counters past the limit: %+v", m)
		}
	}
	for _, e := range sn.Entities {
		if e.AccessCount > maxTurn {
			t.Fatalf("entity access count %d", e.AccessCount)
		}
	}
	// And the loaded session keeps going.
	run(t, s2, "CRITICAL one more", "fine", 1)
	if _, err := s2.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
}

// seqOrder lists the memory hashes and entity keys in sequence order.
func seqOrder(s *Session) []string {
	type item struct {
		seq uint64
		id  string
	}
	var items []item
	s.eachMemory(func(_ int, m *memory) { items = append(items, item{m.seq, "m:" + m.hash}) })
	for _, e := range s.entities {
		items = append(items, item{e.seq, "e:" + e.Key})
	}
	slices.SortFunc(items, func(a, b item) int {
		if a.seq < b.seq {
			return -1
		}
		return 1
	})
	out := make([]string, len(items))
	for i, x := range items {
		out[i] = x.id
	}
	return out
}

// TestImportRefusesCountersAboveTheLimit: each counter one above the limit,
// and next_seq at 2^64-1 (the outside tester's payload), is a 400
// "Malformed or tampered state_dict" that builds nothing.
func TestImportRefusesCountersAboveTheLimit(t *testing.T) {
	d, _, _ := richSession(t).Export()
	edits := counterEdits(fmt.Sprint(maxTurn + 1))
	edits["next_seq 2^64-1"] = func(m map[string]any) { m["next_seq"] = json.Number("18446744073709551615") }
	for name, edit := range edits {
		s, err := Import(resign(t, d, edit))
		if s != nil || semvec.KindOf(err) != semvec.KindInvalid || !strings.Contains(err.Error(), "Malformed or tampered state_dict") {
			t.Fatalf("%s above the limit: %v", name, err)
		}
	}
	// The access count an injection asks for is bounded the same way.
	s := newTestSession(t)
	_, err := s.InjectMemory(InjectInput{Text: "x", Embedding: emb("x"), AccessCount: maxTurn + 1, Now: t0})
	wantErr(t, err, semvec.KindValidation, "access_count")
}

// TestCheckpointWithLargeNextSeqLoads: a checkpoint written before next_seq
// was bounded (only an import could set it that high) still loads, and the
// next sequence number renumbers instead of wrapping.
func TestCheckpointWithLargeNextSeqLoads(t *testing.T) {
	s := richSession(t)
	s.nextSeq = 1<<64 - 1
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := UnmarshalBinary(b)
	if err != nil {
		t.Fatalf("an old checkpoint with a large next_seq does not load: %v", err)
	}
	order := seqOrder(s2)
	if _, err := s2.PutEntity(Entity{Key: "last.one", Kind: "type", Value: "v"}); err != nil {
		t.Fatal(err)
	}
	if got := seqOrder(s2); !slices.Equal(got[:len(got)-1], order) || got[len(got)-1] != "e:last.one" {
		t.Fatalf("order after renumbering: %v", got)
	}
	d, _, err := s2.Export()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Import(d); err != nil {
		t.Fatalf("export after renumbering does not import: %v", err)
	}
}

// A memory's timestamp must be one a Unix time in nanoseconds holds
// (1677–2262), as the session actor reports it: year 0000 or 9999, valid
// RFC 3339, is a 400, and the bounds themselves import.
func TestImportRefusesTimestampsOutsideUnixNanoseconds(t *testing.T) {
	d, _, _ := richSession(t).Export()
	at := func(ts string) func(m map[string]any) {
		return func(m map[string]any) {
			for _, x := range m["memories"].([]any) {
				x.(map[string]any)["timestamp"] = ts
			}
		}
	}
	for _, ts := range []string{"0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "1677-09-21T00:12:43Z", "2262-04-11T23:47:17Z", "9999-12-31T23:59:59Z"} {
		if s, err := Import(resign(t, d, at(ts))); s != nil || semvec.KindOf(err) != semvec.KindInvalid {
			t.Errorf("timestamp %s: %v, want a 400", ts, err)
		}
	}
	for _, ts := range []string{"1677-09-21T00:12:44Z", "2262-04-11T23:47:16Z", "1970-01-01T00:00:00Z"} {
		s, err := Import(resign(t, d, at(ts)))
		if err != nil {
			t.Fatalf("timestamp %s: %v", ts, err)
		}
		want, _ := time.Parse(time.RFC3339, ts)
		var sd struct{ Memories []struct{ Hash string } }
		if err := json.Unmarshal(d, &sd); err != nil || len(sd.Memories) == 0 {
			t.Fatalf("no memories in the export: %v", err)
		}
		for _, m := range sd.Memories {
			mv, ok := s.Memory(m.Hash)
			if got := time.Unix(0, mv.Timestamp.UnixNano()).UTC(); !ok || !got.Equal(want) {
				t.Errorf("timestamp %s reads back as %s (%v)", ts, got, ok)
			}
		}
	}
}

// A state_dict's keys are exactly its fields' names, once per object: a key
// encoding/json would take by folding case ("TURN", "Turn"), an escaped key
// or a key given twice is a 400, so that a checksum verified over what
// Import reads cannot stand behind another value another reader sees.
func TestImportRefusesKeysThatAreNotExact(t *testing.T) {
	d, _, _ := richSession(t).Export()
	good := string(resign(t, d, func(map[string]any) {}))
	if _, err := Import(json.RawMessage(good)); err != nil {
		t.Fatalf("the re-signed export: %v", err)
	}
	if !strings.Contains(good, `"turn":`) {
		t.Fatal(`no "turn" key in the export`)
	}
	for name, bad := range map[string]string{
		"upper case":   strings.Replace(good, `"turn":`, `"TURN":`, 1),
		"folded case":  strings.Replace(good, `"turn":`, `"Turn":`, 1),
		"escaped":      strings.Replace(good, `"turn":`, `"\u0074urn":`, 1),
		"twice":        strings.Replace(good, `"turn":`, `"turn":3,"turn":`, 1),
		"nested twice": strings.Replace(good, `"hash":`, `"hash":"x","hash":`, 1),
	} {
		if s, err := Import(json.RawMessage(bad)); s != nil || semvec.KindOf(err) != semvec.KindInvalid {
			t.Errorf("%s: %v, want a 400", name, err)
		}
	}
	for _, keys := range []string{`{"a":{"b":1},"b":[{"a":1},{"a":2}],"c":"A:B \"D\": e"}`, `["X",":"]`} {
		if err := exactKeys([]byte(keys), defaultShape); err != nil {
			t.Errorf("%s: %v", keys, err)
		}
	}
}

// A state_dict's shape is bounded before it is decoded: more objects,
// arrays, keys in one object or strings than any full session holds is a
// 400, found by one pass over the bytes (a 20 MB array of {} had decoded
// into 7 million memories, 2 GB of heap; a 19 MB list of [] into 6 million
// anchors, 550 MB).
func TestImportBoundsTheShapeBeforeDecoding(t *testing.T) {
	d, _, _ := richSession(t).Export()
	good := string(resign(t, d, func(map[string]any) {}))
	for name, bad := range map[string]string{
		"objects": strings.Replace(good, `"memories":[`, `"memories":[`+strings.Repeat(`{},`, maxSnapshotObjects), 1),
		"arrays":  strings.Replace(good, `"anchors":[`, `"anchors":[`+strings.Repeat(`[],`, maxSnapshotArrays), 1),
		"keys":    `{` + keysObject(maxObjectKeys+1) + `}`,
		"strings": strings.Replace(good, `"memories":[`, `"memories":[{"text":[`+strings.Repeat(`"",`, maxSnapshotStrings)+`""]},`, 1),
	} {
		if err := exactKeys([]byte(bad), defaultShape); err == nil || !strings.Contains(err.Error(), "more than") {
			t.Errorf("%s: %v, want refused for its shape", name, err)
		}
		if s, err := Import(json.RawMessage(bad)); s != nil || semvec.KindOf(err) != semvec.KindInvalid {
			t.Errorf("%s: import %v, want a 400", name, err)
		}
	}
}

// keysObject is n distinct keys, each holding 0, without the braces.
func keysObject(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strconv.Itoa(i) + `":0`)
	}
	return b.String()
}

// A refused import's reason quotes at most maxReasonBytes of the payload:
// an unknown format (or a key, a number) of 19 MB was quoted whole, and
// escaped in the JSON answer (a detail of 114 MB for 19 MB of '<').
func TestImportReasonIsBounded(t *testing.T) {
	long := strings.Repeat("<", 1<<20)
	for name, bad := range map[string]string{
		"format": `{"format":"` + long + `"}`,
		"number": `{"format":"semvec-go/3","turn":1` + strings.Repeat("0", 1<<20) + `}`,
		"key":    `{"x` + strings.Repeat("é", 1<<19) + `":1}`,
	} {
		_, err := Import(json.RawMessage(bad))
		if semvec.KindOf(err) != semvec.KindInvalid {
			t.Fatalf("%s: %v, want a 400", name, err)
		}
		if msg := err.Error(); len(msg) > maxReasonBytes+100 || !utf8.ValidString(msg) {
			t.Errorf("%s: a reason of %d bytes (valid UTF-8: %v), want at most ~%d", name, len(msg), utf8.ValidString(msg), maxReasonBytes)
		}
	}
}

// A session under caps raised as far as Validate accepts (4,096 anchors,
// triggers and isolation vectors, at a dimension small enough to fit
// MaxSnapshotBytes) imports its own export under the same configuration:
// the shape bounds scale with the governing caps. Its 16,388 arrays were
// refused ("more than 16384 arrays") by the constant bound alone. Without a
// server configuration the constant bounds still hold.
func TestRaisedCapsImportTheirOwnExport(t *testing.T) {
	cfg := DefaultConfig(8)
	cfg.MaxAnchors, cfg.MaxIsolationVectors, cfg.MaxTriggers = 4096, 4096, 4096
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the configuration: %v", err)
	}
	s := New(cfg)
	r := rand.New(rand.NewPCG(1, 2))
	vec := func() []float32 { return randUnit(r, cfg.Dim) }
	for range cfg.MaxAnchors {
		if _, err := s.AddAnchor(vec()); err != nil {
			t.Fatal(err)
		}
	}
	for range cfg.MaxTriggers {
		if _, err := s.AddTrigger(Trigger{Embedding: vec()}); err != nil {
			t.Fatal(err)
		}
	}
	excl, allow := make([][]float32, cfg.MaxIsolationVectors), make([][]float32, cfg.MaxIsolationVectors)
	for i := range excl {
		excl[i], allow[i] = vec(), vec()
	}
	if err := s.SetIsolation(IsolationPolicy{Level: LevelFilter, Exclusion: excl, Allowlist: allow}); err != nil {
		t.Fatal(err)
	}
	d, _, err := s.Export()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(d), "["); n <= maxSnapshotArrays {
		t.Fatalf("the export holds %d arrays, not past the constant bound %d", n, maxSnapshotArrays)
	}
	if _, err := ImportWith(cfg, d); err != nil {
		t.Fatalf("its own export does not import under the configuration that wrote it: %v", err)
	}
	if _, err := Import(d); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("under the default caps: %v, want the shape refused before decoding", err)
	}
}
