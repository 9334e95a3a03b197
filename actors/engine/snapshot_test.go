package engine

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	semvec "github.com/semvec-go/semvec"
)

// richSession builds a session that uses every feature, so snapshots cover
// every field.
func richSession(t testing.TB) *Session {
	t.Helper()
	s := New(DefaultConfig(testDim))
	s.AddTrigger(Trigger{Keyword: "CRITICAL"})
	s.AddTrigger(Trigger{Embedding: emb("database outage"), Threshold: 0.75})
	s.AddAnchor(emb("kubernetes deployment pods"))
	s.PutEntity(Entity{Key: "deployment.spec.replicas", Kind: "variable", Value: "int32", Context: "k8s", Importance: 1.5})
	s.PutEntity(Entity{Key: "ünïcode/päth", Kind: "path", Value: "/tmp/\u2028x"})
	converse(t, s, k8sConversation, "", 0)
	s.InjectMemory(InjectInput{Text: "long-term fact", Embedding: emb("long-term fact"), Tier: TierLongTerm, Importance: 3, Now: t0})
	s.SetIsolation(IsolationPolicy{Level: LevelQuarantine, Exclusion: [][]float32{emb(spam)}, Allowlist: [][]float32{emb("kubernetes")}, Threshold: 0.6})
	run(t, s, spam, k8sConversation[11].A, 12)
	run(t, s, "kubernetes pods again", "an answer to spam", 13)
	return s
}

func TestExportImportRoundTrip(t *testing.T) {
	s := richSession(t)
	d1, sum1, err := s.Export()
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(d1, &obj); err != nil || obj["format"] != SnapshotFormat || obj["checksum"] != sum1 || len(sum1) != 64 {
		t.Fatalf("dict: %v %v", err, obj["format"])
	}
	s2, err := Import(d1)
	if err != nil {
		t.Fatal(err)
	}
	d2, sum2, _ := s2.Export()
	if !bytes.Equal(d1, d2) || sum1 != sum2 {
		t.Fatal("export → import → export is not byte-identical")
	}
	// The imported session behaves identically.
	in := RunInput{Message: "How do I scale pods?", MessageVec: emb("How do I scale pods?"), Response: "r", ResponseVec: emb("r"),
		ShortCircuitThreshold: 0.85, Now: t0.Add(time.Hour)}
	r1, _ := s.Run(in)
	r2, _ := s2.Run(in)
	if r1.Context != r2.Context || r1.DriftScore != r2.DriftScore || r1.TopSimilarity != r2.TopSimilarity || r1.Update != r2.Update {
		t.Fatalf("diverged:\n%+v\n%+v", r1, r2)
	}
	a, _, _ := s.Export()
	b, _, _ := s2.Export()
	if !bytes.Equal(a, b) {
		t.Fatal("states diverged after the same turn")
	}
	// An empty session round-trips too.
	e, _, _ := New(DefaultConfig(8)).Export()
	if s3, err := Import(e); err != nil || s3.Dim() != 8 {
		t.Fatal(err)
	}
}

// resign recomputes the checksum of a modified dict, as a forger would.
func resign(t *testing.T, d []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	var sn snapshot
	dec := json.NewDecoder(bytes.NewReader(d))
	if err := dec.Decode(&sn); err != nil {
		t.Fatal(err)
	}
	sn.Checksum = ""
	raw, _ := json.Marshal(&sn)
	var m map[string]any
	dec = json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	dec.Decode(&m)
	edit(m)
	raw, _ = json.Marshal(m)
	var sn2 snapshot
	if err := json.Unmarshal(raw, &sn2); err != nil {
		return raw
	}
	canon, _ := json.Marshal(&sn2)
	sum := sha256hex(canon)
	return append(canon[:len(canon)-1], []byte(`,"checksum":"`+sum+`"}`)...)
}

func TestImportRejectsTampering(t *testing.T) {
	s := richSession(t)
	d, _, _ := s.Export()
	str := string(d)
	mems := func(m map[string]any) []any { return m["memories"].([]any) }
	cases := map[string][]byte{
		"flipped float": []byte(strings.Replace(str, `"state":[`, `"state":[1,`, 1)),
		"changed text":  []byte(strings.Replace(str, "kubectl", "kubect1", 1)),
		"no checksum":   []byte(str[:strings.LastIndex(str, `,"checksum"`)] + "}"),
		"bad checksum":  []byte(str[:len(str)-3] + `0"}`),
		"unknown field": []byte(strings.Replace(str, `{"format"`, `{"extra":1,"format"`, 1)),
		"trailing data": append(append([]byte{}, d...), []byte(" {}")...),
		"not json":      []byte("nope"),
		"null":          []byte("null"),
		"wrong format":  []byte(strings.Replace(str, SnapshotFormat, "semvec-go/0", 1)),
		"format v1":     []byte(strings.Replace(str, SnapshotFormat, "semvec-go/1", 1)),
		// Re-signed but violating invariants.
		"hash mismatch": resign(t, d, func(m map[string]any) { mems(m)[0].(map[string]any)["text"] = "other" }),
		"wrong dims": resign(t, d, func(m map[string]any) {
			mems(m)[0].(map[string]any)["key"] = []any{1}
		}),
		"bad tier":   resign(t, d, func(m map[string]any) { mems(m)[0].(map[string]any)["tier"] = "forever" }),
		"bad phase":  resign(t, d, func(m map[string]any) { m["phase"] = "nirvana" }),
		"not unit":   resign(t, d, func(m map[string]any) { m["state"].([]any)[0] = json.Number("3") }),
		"bad config": resign(t, d, func(m map[string]any) { m["config"].(map[string]any)["dim"] = json.Number("0") }),
		"over cap": resign(t, d, func(m map[string]any) {
			m["config"].(map[string]any)["short_term_cap"] = json.Number("1")
		}),
		"dup hash": resign(t, d, func(m map[string]any) {
			m["memories"] = append(mems(m), mems(m)[0])
		}),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Import(in)
			wantErr(t, err, semvec.KindInvalid, "")
			if !strings.HasPrefix(err.Error(), "Malformed or tampered state_dict: ") {
				t.Fatalf("detail %q", err)
			}
		})
	}
}

func TestFlippedFloatBit(t *testing.T) {
	s := richSession(t)
	d, _, _ := s.Export()
	// Change one element of the state vector in its last digit.
	i := bytes.Index(d, []byte(`"state":[`)) + len(`"state":[`)
	j := i + bytes.IndexByte(d[i:], ',')
	num := string(d[i:j])
	last := num[len(num)-1]
	repl := byte('1')
	if last == '1' {
		repl = '2'
	}
	bad := append(append(append([]byte{}, d[:j-1]...), repl), d[j:]...)
	if _, err := Import(bad); err == nil {
		t.Fatalf("flipping %s accepted", num)
	}
}

func TestVerify(t *testing.T) {
	s := richSession(t)
	r := rand.New(rand.NewPCG(3, 3))
	tests := [][]float32{randUnit(r, testDim), emb("kubectl rollout"), emb("sourdough")}
	if ok, err := s.Verify(tests, nil, 0); err != nil || !ok {
		t.Fatal("without export or import: trivially consistent", ok, err)
	}
	d, _, _ := s.Export()
	s2, _ := Import(d)
	if ok, _ := s2.Verify(tests, s, 0); !ok {
		t.Fatal("imported vs original: inconsistent")
	}
	if ok, _ := s.Verify(tests, nil, 0); !ok {
		t.Fatal("unchanged since export: inconsistent")
	}
	// Moving the state far away breaks consistency with the export.
	s.BlendToward(emb("sourdough bread baking flour"), 0.9)
	if ok, _ := s.Verify(tests, nil, 1e-3); ok {
		t.Fatal("moved state still consistent with the export")
	}
	if ok, _ := s.Verify(tests, nil, 2); !ok {
		t.Fatal("tolerance 2 must accept any cosine difference")
	}
	if ok, _ := s2.Verify(tests, nil, 0); !ok {
		t.Fatal("imported session vs its import reference")
	}
	if ok, _ := s2.Verify(tests, New(DefaultConfig(8)), 0); ok {
		t.Fatal("other dimension consistent")
	}
	_, err := s.Verify(tests, nil, -1)
	wantErr(t, err, semvec.KindValidation, "tolerance")
}

func TestBinaryRoundTrip(t *testing.T) {
	s := richSession(t)
	s.Export() // sets a Verify reference, which must survive passivation
	s.BlendToward(emb("something else"), 0.5)
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := UnmarshalBinary(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := s2.MarshalBinary()
	if !bytes.Equal(b, b2) {
		t.Fatal("binary round trip not bit-exact")
	}
	tests := [][]float32{emb("kubectl"), emb("bread")}
	ok1, _ := s.Verify(tests, nil, 0)
	ok2, _ := s2.Verify(tests, nil, 0)
	if ok1 || ok2 {
		t.Fatal("verify reference lost in passivation (the state moved since the export)")
	}
	d1, _, _ := s.Export()
	d2, _, _ := s2.Export()
	if !bytes.Equal(d1, d2) {
		t.Fatal("binary round trip changed the state")
	}
	t.Logf("binary %d bytes, JSON %d bytes, %d memories", len(b), len(d1), s.TotalMemories())
	for _, bad := range [][]byte{nil, b[:10], append([]byte("XXXX"), b[4:]...), b[:len(b)-1]} {
		if _, err := UnmarshalBinary(bad); err == nil {
			t.Fatal("corrupt blob accepted")
		}
	}
	flipped := bytes.Clone(b)
	flipped[len(flipped)/2] ^= 1
	if _, err := UnmarshalBinary(flipped); err == nil {
		t.Fatal("bit flip accepted")
	}
}

// FuzzImport: Import never panics, and whatever it accepts re-exports to a
// dict that imports again and re-exports byte-identically.
func FuzzImport(f *testing.F) {
	s := richSession(f)
	d, _, _ := s.Export()
	f.Add([]byte(d))
	e, _, _ := New(DefaultConfig(4)).Export()
	f.Add([]byte(e))
	small := New(DefaultConfig(4))
	small.Run(RunInput{Message: "m", MessageVec: []float32{1, 0, 0, 0}, Now: t0})
	small.Run(RunInput{Message: "n", MessageVec: []float32{0, 1, 0, 0}, Response: "r", ResponseVec: []float32{0, 0, 1, 0}, Now: t0})
	small.PutEntity(Entity{Key: "k", Kind: "type", Value: "v"})
	sd, _, _ := small.Export()
	f.Add([]byte(sd))
	f.Add([]byte(`{"format":"semvec-go/1"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Import(data)
		if err != nil {
			if semvec.KindOf(err) != semvec.KindInvalid {
				t.Fatalf("kind %v", semvec.KindOf(err))
			}
			return
		}
		d1, sum1, err := s.Export()
		if err != nil {
			t.Fatal(err)
		}
		var in struct {
			Checksum string `json:"checksum"`
		}
		json.Unmarshal(data, &in)
		if sum1 != in.Checksum {
			t.Fatalf("accepted dict re-exports with another checksum")
		}
		s2, err := Import(d1)
		if err != nil {
			t.Fatal(err)
		}
		d2, _, _ := s2.Export()
		if !bytes.Equal(d1, d2) {
			t.Fatal("re-export differs")
		}
		// The session is usable.
		v := make([]float32, s.Dim())
		v[0] = 1
		if _, err := s.Run(RunInput{Message: "x", MessageVec: v, Now: t0}); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzImportResigned fuzzes the invariant checks behind the checksum: the
// harness re-signs every input, as a forger could, so mutations reach
// fromSnapshot. Import must never panic, and an accepted dict must behave.
func FuzzImportResigned(f *testing.F) {
	for _, s := range []*Session{richSession(f), New(DefaultConfig(4))} {
		d, _, _ := s.Export()
		f.Add([]byte(d))
	}
	small := New(DefaultConfig(4))
	small.Run(RunInput{Message: "m", MessageVec: []float32{1, 0, 0, 0}, Now: t0})
	small.Run(RunInput{Message: "n", MessageVec: []float32{0, 1, 0, 0}, Response: "r", ResponseVec: []float32{0, 0, 1, 0}, Now: t0})
	small.AddAnchor([]float32{0, 0, 0, 1})
	small.AddTrigger(Trigger{Keyword: "k"})
	small.PutEntity(Entity{Key: "k", Kind: "type", Value: "v"})
	small.SetIsolation(IsolationPolicy{Level: LevelQuarantine, Exclusion: [][]float32{{0, 0, 0, 1}}})
	small.Run(RunInput{Message: "q", MessageVec: []float32{0, 0, 0, 1}, Now: t0})
	sd, _, _ := small.Export()
	f.Add([]byte(sd))
	f.Fuzz(func(t *testing.T, data []byte) {
		var sn snapshot
		if json.Unmarshal(data, &sn) != nil {
			return
		}
		sn.Checksum = ""
		canon, err := json.Marshal(&sn)
		if err != nil {
			return
		}
		dict := append(canon[:len(canon)-1:len(canon)-1], []byte(`,"checksum":"`+sha256hex(canon)+`"}`)...)
		s, err := Import(dict)
		if err != nil {
			return
		}
		d1, _, err := s.Export()
		if err != nil || !bytes.Equal(d1, dict) {
			t.Fatalf("accepted dict re-exports differently (%v)", err)
		}
		v := make([]float32, s.Dim())
		v[0] = 1
		if _, err := s.Run(RunInput{Message: "x", MessageVec: v, Response: "y", ResponseVec: v, Now: t0}); err != nil {
			t.Fatal(err)
		}
		s.ReleaseQuarantine(t0)
		s.ContextItems(3, true, 10)
		s.InjectMemory(InjectInput{Text: "z", Embedding: v, Tier: TierLongTerm})
		if _, err := s.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzUnmarshalBinary: never panics; an accepted blob re-marshals to itself.
// The harness repairs the CRC of every input, as a forger could.
func FuzzUnmarshalBinary(f *testing.F) {
	s := richSession(f)
	s.Export()
	b, _ := s.MarshalBinary()
	f.Add(b)
	small := New(DefaultConfig(4))
	small.Run(RunInput{Message: "m", MessageVec: []float32{1, 0, 0, 0}, Now: t0})
	small.Export()
	sb, _ := small.MarshalBinary()
	f.Add(sb)
	eb, _ := New(DefaultConfig(2)).MarshalBinary()
	f.Add(eb)
	f.Fuzz(func(t *testing.T, data []byte) {
		// Fix up the CRC so mutations reach the parser.
		if len(data) >= 4 {
			data = binary.LittleEndian.AppendUint32(data[:len(data)-4:len(data)-4], crcOf(data[:len(data)-4]))
		}
		s, err := UnmarshalBinary(data)
		if err != nil {
			return
		}
		out, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, data) {
			t.Fatal("accepted blob does not re-marshal to itself")
		}
		v := make([]float32, s.Dim())
		v[len(v)-1] = 1
		if _, err := s.Run(RunInput{Message: "x", MessageVec: v, Now: t0}); err != nil {
			t.Fatal(err)
		}
	})
}

// TakeReference (replaying a logged export) leaves the session exactly as
// Export does: the same binary encoding, Verify reference included, also
// when the state moved after an earlier reference and when memories were
// rewritten since.
func TestTakeReferenceIsExportsReference(t *testing.T) {
	a, b := newTestSession(t), newTestSession(t)
	script := func(s *Session, k int) {
		run(t, s, fmt.Sprintf("how do I tune postgres vacuum %d", k), fmt.Sprintf("raise autovacuum workers %d", k), k)
		run(t, s, fmt.Sprintf("and the kubernetes pods %d", k), fmt.Sprintf("set resource limits %d", k), k+1)
	}
	for k := range 3 {
		script(a, 10*k)
		script(b, 10*k)
		if _, _, err := a.Export(); err != nil {
			t.Fatal(err)
		}
		if err := b.TakeReference(); err != nil {
			t.Fatal(err)
		}
		ba, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		bb, err := b.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ba, bb) {
			t.Fatalf("round %d: the session after TakeReference differs from the one after Export", k)
		}
	}
}
