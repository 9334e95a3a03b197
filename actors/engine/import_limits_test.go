package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	semvec "github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/vecmath/embed"
)

// TestImportRefusesRaisedCaps: a re-signed payload whose config asks for
// more than the server's is a 400 naming the field, for every cap and limit
// (issue 10, item 4: such a session grew past every bound).
func TestImportRefusesRaisedCaps(t *testing.T) {
	d, _, _ := richSession(t).Export()
	for _, l := range DefaultConfig(testDim).limits() {
		bad := resign(t, d, func(m map[string]any) {
			cfg := m["config"].(map[string]any)
			cfg[l.name] = json.Number(fmt.Sprint(l.v + 1))
		})
		_, err := Import(bad)
		wantErr(t, err, semvec.KindInvalid, "")
		if want := fmt.Sprintf("%s %d exceeds the server's %d", l.name, l.v+1, l.v); !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: detail %q", l.name, err)
		}
	}
	// The payload: caps raised as far as the old decoder allowed,
	// with more memories than the server keeps.
	huge := resign(t, d, func(m map[string]any) {
		cfg := m["config"].(map[string]any)
		for _, f := range []string{"short_term_cap", "medium_term_cap", "long_term_cap", "max_entities", "shadow_cap"} {
			cfg[f] = json.Number("4096")
		}
		cfg["max_stored_chars"] = json.Number(fmt.Sprint(1 << 22))
	})
	if _, err := Import(huge); err == nil {
		t.Fatal("raised caps accepted")
	}
}

// TestImportWithServerConfig: the server's configuration governs: its
// dimension, caps and limits; a payload with tighter caps is accepted and
// takes the server's.
func TestImportWithServerConfig(t *testing.T) {
	s := richSession(t)
	d, _, _ := s.Export()

	tight := DefaultConfig(testDim)
	tight.ShortTermCap = 2
	if _, err := ImportWith(tight, d); err == nil || !strings.Contains(err.Error(), "short_term_cap 15 exceeds the server's 2") {
		t.Fatalf("payload larger than the server's config: %v", err)
	}
	if _, err := ImportWith(DefaultConfig(testDim*2), d); err == nil || !strings.Contains(err.Error(), "dimension 384 does not match the server's 768") {
		t.Fatalf("other dimension: %v", err)
	}
	bad := DefaultConfig(testDim)
	bad.ShortTermCap = 0
	if _, err := ImportWith(bad, d); semvec.KindOf(err) != semvec.KindInternal {
		t.Fatalf("invalid server config: %v", err)
	}

	// A payload with smaller caps and other switches is accepted; the
	// session takes the server's caps and keeps the switches.
	small := resign(t, d, func(m map[string]any) {
		cfg := m["config"].(map[string]any)
		cfg["max_entities"] = json.Number("3")
		cfg["use_attention"] = true
		cfg["enable_topic_switch"] = false
	})
	s2, err := Import(small)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig(testDim)
	want.UseAttention, want.EnableTopicSwitch = true, false
	if s2.Config() != want {
		t.Fatalf("config %+v, want %+v", s2.Config(), want)
	}
	for i := range 2 * want.MaxEntities {
		s2.PutEntity(Entity{Key: fmt.Sprint("k", i), Kind: "type", Value: "v"})
	}
	if n := s2.EntityCount(); n != want.MaxEntities {
		t.Fatalf("%d entities, the server's cap is %d", n, want.MaxEntities)
	}
	// The session's own state must fit its own config too.
	over := resign(t, d, func(m map[string]any) { m["config"].(map[string]any)["max_entities"] = json.Number("1") })
	if _, err := Import(over); err == nil {
		t.Fatal("more entities than the payload's own cap accepted")
	}
}

// TestImportRefusesOversizedParts: parts beyond the server's limits are
// refused with a reason, whatever the payload's config says.
func TestImportRefusesOversizedParts(t *testing.T) {
	s := richSession(t)
	d, _, _ := s.Export()
	cases := map[string]func(m map[string]any){
		"entity value": func(m map[string]any) {
			m["entities"].([]any)[0].(map[string]any)["value"] = strings.Repeat("v", maxEntityValueChars+1)
		},
		"entity key": func(m map[string]any) {
			m["entities"].([]any)[0].(map[string]any)["key"] = strings.Repeat("k", maxEntityKeyChars+1)
		},
		"memory text": func(m map[string]any) {
			mem := m["memories"].([]any)[0].(map[string]any)
			mem["text"] = strings.Repeat("t", DefaultConfig(testDim).MaxStoredChars+1)
			mem["hash"] = hashText(mem["text"].(string))
		},
		"state dimension": func(m map[string]any) { m["state"] = m["state"].([]any)[:testDim-1] },
		"anchor dimension": func(m map[string]any) {
			m["anchors"] = []any{[]any{json.Number("1")}}
		},
		"config dimension": func(m map[string]any) { m["config"].(map[string]any)["dim"] = json.Number("385") },
	}
	for name, edit := range cases {
		if _, err := Import(resign(t, d, edit)); semvec.KindOf(err) != semvec.KindInvalid {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// TestConfigLimitsListsEveryCap: fitsServer compares every int field but
// the dimension, the two per-session context knobs and the access
// half-life (a policy the server sets, not a cap).
func TestConfigLimitsListsEveryCap(t *testing.T) {
	c := DefaultConfig(testDim)
	var names []string
	rt := reflect.TypeOf(c)
	notCaps := map[string]bool{"Dim": true, "ContextTopK": true, "ContextBudgetChars": true, "AccessHalfLife": true}
	for i := range rt.NumField() {
		if f := rt.Field(i); f.Type.Kind() == reflect.Int && !notCaps[f.Name] {
			names = append(names, strings.Split(f.Tag.Get("json"), ",")[0])
		}
	}
	var got []string
	for _, l := range c.limits() {
		got = append(got, l.name)
	}
	if !reflect.DeepEqual(got, names) {
		t.Fatalf("limits %v, want %v", got, names)
	}
}

// worstText is n characters that encoding/json escapes to six bytes each.
func worstText(i, n int) string {
	p := fmt.Sprint(i, "-")
	return p + strings.Repeat("<", n-len(p))
}

// fullSession fills every cap of cfg with the largest parts the engine
// accepts: texts that JSON escapes to 6 bytes a character, full histories,
// a full shadow buffer with answers, all triggers, anchors and isolation
// vectors, a full literal cache, a clipped long pending question.
func fullSession(t testing.TB, cfg Config) *Session {
	t.Helper()
	s := New(cfg)
	r := rand.New(rand.NewPCG(10, 10))
	dim := cfg.Dim
	unit := func() []float32 { return randUnit(r, dim) }
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Quarantine: every message is stopped and gets an answer.
	must(nil, s.SetIsolation(IsolationPolicy{Level: LevelQuarantine, Allowlist: [][]float32{unit()}, Threshold: 0.99}))
	for i := range cfg.ShadowCap {
		must(s.Run(RunInput{Message: worstText(i, cfg.MaxStoredChars+50), MessageVec: unit(), Now: t0}))
		must(nil, third(s.Store(worstText(i, cfg.MaxStoredChars+50), unit(), t0)))
	}
	if len(s.shadow) != cfg.ShadowCap || s.shadow[0].answer == "" {
		t.Fatalf("shadow %d", len(s.shadow))
	}
	must(nil, s.SetIsolation(IsolationPolicy{Level: LevelOpen}))
	for i := range cfg.HistoryLen + 5 {
		must(s.Run(RunInput{Message: worstText(i, 3*cfg.MaxStoredChars), MessageVec: unit(),
			Response: worstText(i, 2*cfg.MaxStoredChars), ResponseVec: unit(), Now: t0}))
	}
	for tier, name := range []string{TierLongTerm, TierMediumTerm, TierShortTerm} {
		t := numTiers - 1 - tier
		caps := [numTiers]int{cfg.ShortTermCap, cfg.MediumTermCap, cfg.LongTermCap}
		for i := 0; len(s.tiers[t]) < caps[t]; i++ {
			must(s.InjectMemory(InjectInput{Text: worstText(1000*tier+i, cfg.MaxStoredChars), Embedding: unit(), Tier: name, Now: t0}))
		}
	}
	for i := range cfg.MaxTriggers {
		if i%2 == 0 {
			must(s.AddTrigger(Trigger{Embedding: unit()}))
		} else {
			must(s.AddTrigger(Trigger{Keyword: worstText(i, maxTriggerKeywordChars)}))
		}
	}
	for range cfg.MaxAnchors {
		must(s.AddAnchor(unit()))
	}
	for i := range cfg.MaxEntities {
		must(s.PutEntity(Entity{Key: worstText(i, maxEntityKeyChars), Kind: "type",
			Value: worstText(i, maxEntityValueChars), Context: worstText(i, maxEntityContextChars)}))
	}
	var excl, allow [][]float32
	for range cfg.MaxIsolationVectors {
		excl, allow = append(excl, unit()), append(allow, unit())
	}
	must(nil, s.SetIsolation(IsolationPolicy{Level: LevelFilter, Exclusion: excl, Allowlist: allow, Threshold: 1}))
	// The pending question: a message far longer than any stored text.
	must(s.Run(RunInput{Message: worstText(7, 50*cfg.MaxStoredChars), MessageVec: unit(), Now: t0}))
	for tier, c := range [numTiers]int{cfg.ShortTermCap, cfg.MediumTermCap, cfg.LongTermCap} {
		if len(s.tiers[tier]) != c {
			t.Fatalf("tier %d holds %d of %d", tier, len(s.tiers[tier]), c)
		}
	}
	if s.pending == nil || utf8.RuneCountInString(s.pending.text) > cfg.MaxStoredChars {
		t.Fatal("pending question missing or unbounded")
	}
	if len(s.entities) != cfg.MaxEntities || len(s.triggers) != cfg.MaxTriggers || len(s.anchors) != cfg.MaxAnchors ||
		len(s.betaHist) != cfg.HistoryLen || len(s.shadow) != cfg.ShadowCap {
		t.Fatal("a cap is not reached")
	}
	return s
}

// TestFullSessionRoundTrips: a session at every cap of the server's
// configuration, with the worst-case texts, encodes within the decoders'
// limits and the bounds Validate relies on, and loads back identically.
func TestFullSessionRoundTrips(t *testing.T) {
	dims := []int{testDim, 1536}
	if testing.Short() {
		dims = dims[:1]
	}
	for _, dim := range dims {
		cfg := DefaultConfig(dim)
		s := fullSession(t, cfg)
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > MaxSnapshotBytes || len(b) > cfg.binaryBound() {
			t.Fatalf("dim %d: binary %d bytes, bound %d, limit %d", dim, len(b), cfg.binaryBound(), MaxSnapshotBytes)
		}
		s2, err := UnmarshalBinary(b)
		if err != nil {
			t.Fatalf("dim %d: a full session does not load back: %v", dim, err)
		}
		if b2, _ := s2.MarshalBinary(); !bytes.Equal(b, b2) {
			t.Fatalf("dim %d: binary round trip differs", dim)
		}
		d, _, err := s.Export()
		if err != nil {
			t.Fatal(err)
		}
		if len(d) > MaxSnapshotBytes || len(d) > cfg.ExportBound() {
			t.Fatalf("dim %d: export %d bytes, bound %d", dim, len(d), cfg.ExportBound())
		}
		s3, err := Import(d)
		if err != nil {
			t.Fatalf("dim %d: a full session's export does not import: %v", dim, err)
		}
		if d3, _, _ := s3.Export(); !bytes.Equal(d, d3) {
			t.Fatalf("dim %d: export round trip differs", dim)
		}
		t.Logf("dim %d: binary %d of bound %d, export %d of bound %d", dim, len(b), cfg.binaryBound(), len(d), cfg.ExportBound())
	}
}

// TestDefaultConfigsFitSnapshots: every dimension's default configuration
// passes Validate, so every state it allows can be saved and loaded back.
func TestDefaultConfigsFitSnapshots(t *testing.T) {
	for _, dim := range []int{1, 4, 384, 768, 1024, 1536, 3072, 4096, MaxDim} {
		if err := DefaultConfig(dim).Validate(); err != nil {
			t.Fatalf("dim %d: %v", dim, err)
		}
	}
	c := DefaultConfig(testDim)
	c.ShortTermCap, c.MaxStoredChars = maxCapLimit, 1<<22
	if err := c.Validate(); semvec.KindOf(err) != semvec.KindValidation || !strings.Contains(err.Error(), "snapshot") {
		t.Fatalf("a config whose sessions cannot be saved: %v", err)
	}
}

// TestEncodersRefuseWhatDecodersRefuse: a session whose encoding would be
// larger than the decoders accept (possible only under a configuration that
// an old build let an import set) is refused by MarshalBinary and Export
// with an error, never written in a form that cannot be loaded back.
func TestEncodersRefuseWhatDecodersRefuse(t *testing.T) {
	s := newTestSession(t)
	s.cfg.ShortTermCap, s.cfg.MaxStoredChars = 64, 1<<22 // passes validateRanges, not Validate
	r := rand.New(rand.NewPCG(3, 3))
	for i := range 6 {
		if _, err := s.InjectMemory(InjectInput{Text: worstText(i, 1<<20), Embedding: randUnit(r, testDim), Now: t0}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := s.MarshalBinary()
	if err == nil {
		if _, err := UnmarshalBinary(b); err != nil {
			t.Fatalf("MarshalBinary wrote %d bytes that UnmarshalBinary refuses: %v", len(b), err)
		}
		t.Fatal("expected a snapshot over the limit")
	}
	if b != nil || semvec.KindOf(err) != semvec.KindInternal {
		t.Fatalf("MarshalBinary: %v", err)
	}
	d, _, err := s.Export()
	if err == nil {
		if _, err := Import(d); err != nil {
			t.Fatalf("Export wrote %d bytes that Import refuses: %v", len(d), err)
		}
		t.Fatal("expected an export over the limit")
	}
	wantErr(t, err, semvec.KindConflict, "")
}

// TestPendingTextKeepsMemories: bounding the pending question does not
// change the memory it becomes, with or without an answer.
func TestPendingTextKeepsMemories(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	const n = 50
	pieces := []string{"a", "é", " ", "\n", "\t", "  ", "<", "\u3000", "xyz", "\u2028"}
	for range 5000 {
		var b strings.Builder
		for range r.IntN(4 * n) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		msg := cleanText(b.String())
		if strings.TrimSpace(msg) == "" {
			continue
		}
		p := pendingText(msg, n)
		if utf8.RuneCountInString(p) > n {
			t.Fatalf("pendingText(%q) = %q: longer than %d", msg, p, n)
		}
		for _, mk := range []func(q string) string{
			func(q string) string { return "U: " + strings.TrimSpace(q) },
			func(q string) string { return qaText(q, " the answer ") },
			func(q string) string { return qaText(q, "") },
		} {
			if a, b := clipText(cleanText(mk(msg)), n), clipText(cleanText(mk(p)), n); a != b {
				t.Fatalf("memory of %q: %q, bounded %q", msg, a, b)
			}
		}
	}
}

// FuzzImportPayload re-signs arbitrary edits of a state_dict as a forger
// would: Import never panics, and an accepted session is governed by the
// server's configuration, holds only URL-safe entity keys, and saves in a
// form that loads back. The seeds run in go test.
func FuzzImportPayload(f *testing.F) {
	s := New(DefaultConfig(4))
	s.PutEntity(Entity{Key: "a.b", Kind: "type", Value: "v"})
	s.InjectMemory(InjectInput{Text: "m", Embedding: []float32{1, 0, 0, 0}})
	s.Run(RunInput{Message: "q", MessageVec: []float32{0, 1, 0, 0}, Now: t0})
	d, _, _ := s.Export()
	f.Add([]byte(d))
	for _, edit := range []string{`"max_entities":256`, `"short_term_cap":15`, `"max_stored_chars":2000`, `"dim":4`} {
		name, _, _ := strings.Cut(edit, ":")
		f.Add(bytes.Replace(d, []byte(edit), []byte(name+":4096"), 1))
	}
	f.Add(bytes.Replace(d, []byte(`"key":"a.b"`), []byte(`"key":".."`), 1))
	f.Add(bytes.Replace(d, []byte(`"key":"a.b"`), []byte(`"key":"a/./b"`), 1))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var sn snapshot
		if json.Unmarshal(raw, &sn) != nil {
			return
		}
		sn.Checksum = ""
		c, err := json.Marshal(&sn)
		if err != nil {
			return
		}
		dict := append(c[:len(c)-1:len(c)-1], []byte(`,"checksum":"`+sha256hex(c)+`"}`)...)
		s, err := Import(dict)
		if err != nil {
			if semvec.KindOf(err) != semvec.KindInvalid {
				t.Fatalf("import error of kind %v: %v", semvec.KindOf(err), err)
			}
			return
		}
		cfg := s.Config()
		if gov := DefaultConfig(cfg.Dim); !reflect.DeepEqual(cfg.limits(), gov.limits()) {
			t.Fatalf("imported session keeps the payload's caps: %+v", cfg)
		}
		for _, e := range s.Entities("", 0) {
			if msg := entityKeyProblem(e.Key); msg != "" {
				t.Fatalf("imported key %q: %s", e.Key, msg)
			}
		}
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := UnmarshalBinary(b); err != nil {
			t.Fatalf("accepted import does not load back: %v", err)
		}
		d2, _, err := s.Export()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Import(d2); err != nil {
			t.Fatalf("accepted import does not re-import: %v", err)
		}
	})
}

// SEMVEC_EMBEDDER_DIM accepts what a session takes, no more: embed.MaxDim
// was 65536, and a server started with a dimension above MaxDim refused
// every session (422 "dimension: must be between 1 and 8192").
func TestEmbedderMaxDimIsTheSessionsMaxDim(t *testing.T) {
	if embed.MaxDim != MaxDim {
		t.Fatalf("embed.MaxDim = %d, engine.MaxDim = %d", embed.MaxDim, MaxDim)
	}
}
