package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	semvec "github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/vecmath"
)

// Import rebuilds a session from a state_dict produced by Export, under the
// configuration a new session of the payload's dimension gets from the server,
// DefaultConfig(dim): it is ImportWith(DefaultConfig(dim), stateDict).
// Callers whose server configures sessions otherwise use ImportWith.
func Import(stateDict json.RawMessage) (*Session, error) {
	return importGoverned(stateDict, nil)
}

// ImportWith rebuilds a session from a state_dict produced by Export. The
// input is decoded strictly (unknown fields and trailing data are rejected),
// the format and checksum are checked, then the payload is held to server,
// the configuration a new session of the caller gets: the payload's config
// must have server's dimension and ask for no cap or limit larger than
// server's, and the state must fit server's caps and limits. The session
// takes server's configuration (not the payload's), keeping only the two
// behaviour switches enable_topic_switch and use_attention, which a caller
// chooses anyway when creating a session. Then every invariant is checked
// (dimensions, finiteness, tiers, hashes, ordering, entity keys). Any failure
// is KindInvalid "Malformed or tampered state_dict: <reason>"; nothing is
// partially applied. The imported state becomes the Verify reference. A
// server configuration that fails Validate is KindInternal.
func ImportWith(server Config, stateDict json.RawMessage) (*Session, error) {
	if err := server.Validate(); err != nil {
		return nil, semvec.Wrap(semvec.KindInternal, err, "invalid server session configuration")
	}
	return importGoverned(stateDict, &server)
}

// importGoverned is ImportWith; server nil means DefaultConfig of the
// payload's dimension.
func importGoverned(raw []byte, server *Config) (*Session, error) {
	s, err := importDict(raw, server)
	if err != nil {
		return nil, semvec.Errorf(semvec.KindInvalid, "Malformed or tampered state_dict: %s", clipReason(err.Error()))
	}
	s.ref = s.takeRef()
	return s, nil
}

// maxReasonBytes bounds the reason given for a refused import. A reason may
// quote the payload (an unknown format, phase or tier, a key that is not a
// field's name, a number encoding/json cannot decode), and the payload may
// be ~20 MB: a 19 MB format of '<' was answered with a detail of 114 MB
// (each '<' escaped as \u003c in the JSON answer).
const maxReasonBytes = 512

// clipReason cuts reason to maxReasonBytes (clipBytes).
func clipReason(reason string) string { return clipBytes(reason, maxReasonBytes) }

func importDict(raw []byte, server *Config) (*Session, error) {
	if len(raw) > MaxSnapshotBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxSnapshotBytes)
	}
	var sn snapshot
	shape := DefaultConfig(0).shape() // the caps of DefaultConfig do not depend on the dimension
	if server != nil {
		shape = server.shape()
	}
	if err := decodeStrictShape(raw, &sn, shape); err != nil {
		return nil, err
	}
	if sn.Format != SnapshotFormat && sn.Format != snapshotFormatV2 {
		return nil, fmt.Errorf("unknown format %q", sn.Format)
	}
	if sn.Checksum == "" {
		return nil, errors.New("missing checksum")
	}
	want := sn.Checksum
	sn.Checksum = ""
	canon, err := json.Marshal(&sn)
	if err != nil {
		return nil, fmt.Errorf("cannot encode: %v", err)
	}
	sum := sha256.Sum256(canon)
	if hex.EncodeToString(sum[:]) != want {
		return nil, errors.New("checksum mismatch")
	}
	if err := sn.Config.validateRanges(); err != nil {
		return nil, fmt.Errorf("config: %v", err)
	}
	gov := DefaultConfig(sn.Config.Dim)
	if server != nil {
		gov = *server
	} else if err := gov.Validate(); err != nil {
		return nil, fmt.Errorf("config: dimension %d is not supported: %v", sn.Config.Dim, err)
	}
	if err := fitsServer(sn.Config, gov); err != nil {
		return nil, fmt.Errorf("config: %v", err)
	}
	gov.EnableTopicSwitch, gov.UseAttention = sn.Config.EnableTopicSwitch, sn.Config.UseAttention
	gov.ContextTopK, gov.ContextBudgetChars = sn.Config.ContextTopK, sn.Config.ContextBudgetChars
	return fromSnapshot(&sn, fromImport, &gov)
}

// fitsServer reports the first way payload asks for more than server allows:
// another dimension, or a cap or limit above server's.
func fitsServer(payload, server Config) error {
	if payload.Dim != server.Dim {
		return fmt.Errorf("dimension %d does not match the server's %d", payload.Dim, server.Dim)
	}
	mine, theirs := payload.limits(), server.limits()
	for i, l := range mine {
		if l.v > theirs[i].v {
			return fmt.Errorf("%s %d exceeds the server's %d", l.name, l.v, theirs[i].v)
		}
	}
	return nil
}

// decodeStrict decodes exactly one JSON value into v, rejecting unknown
// fields and trailing data, and keys that are not exactly a field's name
// (exactKeys).
func decodeStrict(raw []byte, v any) error {
	return decodeStrictShape(raw, v, defaultShape)
}

// decodeStrictShape is decodeStrict with the shape bounds b.
func decodeStrictShape(raw []byte, v any, b shapeBounds) error {
	if err := exactKeys(raw, b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the object")
	}
	return nil
}

// exactKeys refuses a JSON text with an object key that is not lower-case
// ASCII (letters, digits, '_'), unescaped, or a key twice in one object.
// Every key of a snapshot is a field name of that form (the snapshot holds
// no maps), and encoding/json would take {"turn": 3, "TURN": 43} as turn 43
// (it folds case and keeps the last of equal keys) where another reader
// sees 3: a checksum verified over what this decoder reads must not stand
// behind a value another reader sees.
//
// It also bounds the shape before anything is decoded: at most
// maxSnapshotObjects objects, maxSnapshotArrays arrays, maxObjectKeys keys
// in one object, and maxSnapshotStrings string values. A full session
// holds well under a tenth of each; without the bounds a 20 MB array of {}
// decoded into 7 million memories (2 GB of heap, 22 s of CPU), and a 19 MB
// list of [] into 6 million anchors (550 MB of heap, 3 s of CPU: a slice
// header of 24 bytes for each 3 bytes of input).
func exactKeys(raw []byte, b shapeBounds) error {
	var open [][]string // the keys of each enclosing object; nil for an array
	objects, arrays, stringValues := 0, 0, 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '{':
			if objects++; objects > b.objects {
				return fmt.Errorf("more than %d objects", b.objects)
			}
			open = append(open, []string{})
		case '[':
			if arrays++; arrays > b.arrays {
				return fmt.Errorf("more than %d arrays", b.arrays)
			}
			open = append(open, nil)
		case '}', ']':
			if len(open) > 0 {
				open = open[:len(open)-1]
			}
		case '"':
			start := i + 1
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					i++
				}
			}
			if i >= len(raw) {
				return errors.New("invalid JSON: an unterminated string")
			}
			j := i + 1
			for j < len(raw) && (raw[j] == ' ' || raw[j] == '\t' || raw[j] == '\n' || raw[j] == '\r') {
				j++
			}
			if j >= len(raw) || raw[j] != ':' || len(open) == 0 || open[len(open)-1] == nil {
				if stringValues++; stringValues > b.strings { // a value, not a key
					return fmt.Errorf("more than %d strings", b.strings)
				}
				continue
			}
			key := string(raw[start:i])
			for _, c := range []byte(key) {
				if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
					return fmt.Errorf("key %q is not a field's name", key)
				}
			}
			keys := open[len(open)-1]
			if slices.Contains(keys, key) {
				return fmt.Errorf("key %q twice in one object", key)
			}
			if len(keys) == maxObjectKeys {
				return fmt.Errorf("more than %d keys in one object", maxObjectKeys)
			}
			open[len(open)-1] = append(keys, key)
		}
	}
	return nil
}

// Bounds on a state_dict's shape (exactKeys), far above what a full session
// holds at the default caps (Config.shape raises them for a governing
// configuration with larger caps): a few hundred memories,
// entities, triggers, anchors and shadow items (objects; a snapshot struct
// has at most a few dozen fields), their vectors and lists (arrays: fewer
// than 500 in a session filled to every cap) and their texts and hashes
// (strings).
const (
	maxSnapshotObjects = 1 << 14
	maxSnapshotArrays  = 1 << 14
	maxObjectKeys      = 64
	maxSnapshotStrings = 1 << 17
)

// shapeBounds are the bounds exactKeys holds a state_dict to.
type shapeBounds struct{ objects, arrays, strings int }

// defaultShape: the constants above. They hold at the default caps (an
// import without a server configuration, the server's own binary metadata).
var defaultShape = shapeBounds{maxSnapshotObjects, maxSnapshotArrays, maxSnapshotStrings}

// shape returns the bounds of a state_dict whose session c governs: the
// constants, or twice what a full session under c holds when that is more.
// Validate accepts caps up to 4,096, and with 4,096 anchors, triggers and
// isolation vectors (at a small dimension, well within MaxSnapshotBytes) a
// session's own export held 16,388 arrays, past the constant: ImportWith
// refused it under the very configuration that wrote it.
func (c Config) shape() shapeBounds {
	const fixed = 64 // the snapshot's own objects, histories, state, pending, anchor weights
	mems := c.ShortTermCap + c.MediumTermCap + c.LongTermCap
	items := mems + c.MaxTriggers + c.ShadowCap + c.MaxEntities
	vectors := mems + c.MaxTriggers + c.MaxAnchors + 2*c.MaxIsolationVectors + c.ShadowCap + driftRecentCap
	return shapeBounds{
		objects: max(maxSnapshotObjects, 2*(fixed+items)),
		arrays:  max(maxSnapshotArrays, 2*(fixed+vectors)),
		strings: max(maxSnapshotStrings, 2*(fixed+8*items+c.HistoryLen)),
	}
}

// snapshotSource says where a snapshot comes from, for the two rules that
// differ: entity keys and next_seq.
type snapshotSource int

const (
	// fromImport: a caller's state_dict. An entity key a client would
	// rewrite in a URL (entityKeyProblem), or a next_seq above maxTurn,
	// refuses the whole payload.
	fromImport snapshotSource = iota
	// fromPassivation: the server's own binary snapshot. One written before
	// the key rule existed may hold such a key: that literal-cache entry is
	// dropped (the cache evicts entries anyway), so the session still loads.
	// One written before next_seq was bounded may hold a larger one.
	fromPassivation
)

// fromSnapshot checks every invariant against the snapshot's own config and
// builds the session. With gov non-nil (an import: gov is at least as large
// as the snapshot's config in every cap and limit, see fitsServer) the
// session then takes gov as its configuration. It takes ownership of the
// snapshot's slices.
func fromSnapshot(sn *snapshot, src snapshotSource, gov *Config) (*Session, error) {
	if sn.Format == snapshotFormatV2 {
		if err := sn.upgradeV2(); err != nil {
			return nil, err
		}
	} else if sn.Format != SnapshotFormat {
		return nil, fmt.Errorf("unknown format %q", sn.Format)
	}
	cfg := sn.Config
	if err := cfg.validateRanges(); err != nil {
		return nil, fmt.Errorf("config: %v", err)
	}
	dim := cfg.Dim
	vec := func(what string, v []float32) error {
		if len(v) != dim {
			return fmt.Errorf("%s: expected %d dimensions, got %d", what, dim, len(v))
		}
		var n2 float64
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("%s: non-finite value", what)
			}
			n2 += float64(x) * float64(x)
		}
		if math.Abs(math.Sqrt(n2)-1) > unitTolerance {
			return fmt.Errorf("%s: not unit length", what)
		}
		return nil
	}
	codes := func(what string, k []int8) error {
		if ok, reason := checkCodes(k, dim); !ok {
			return fmt.Errorf("%s: %s", what, reason)
		}
		return nil
	}
	num := func(what string, x, lo, hi float64) error {
		if !finite(x) || x < lo || x > hi {
			return fmt.Errorf("%s out of range", what)
		}
		return nil
	}
	text := func(what, t string, maxChars int) error {
		if !utf8Valid(t) {
			return fmt.Errorf("%s: invalid UTF-8", what)
		}
		if runeLen(t) > maxChars {
			return fmt.Errorf("%s: longer than %d characters", what, maxChars)
		}
		return nil
	}

	// Core state.
	if sn.Initialized {
		if err := vec("state", sn.State); err != nil {
			return nil, err
		}
	} else if len(sn.State) != 0 {
		return nil, errors.New("state present but not initialized")
	}
	if sn.Turn < 0 || sn.Turn > maxTurn {
		return nil, errors.New("turn out of range")
	}
	if !validPhase(sn.Phase) {
		return nil, fmt.Errorf("unknown phase %q", sn.Phase)
	}
	if err := num("fsm", sn.FSM, 0, 1); err != nil {
		return nil, err
	}
	h := sn.History
	for _, hist := range [][]float32{h.Beta, h.Similarity, h.FSM, h.Norm, h.Drift} {
		if len(hist) > cfg.HistoryLen || len(hist) > sn.Turn {
			return nil, errors.New("history longer than allowed")
		}
		for _, x := range hist {
			// Histories are stored as float32: the norm cap itself rounds
			// up to 1.2000000476837158 there.
			if err := num("history value", float64(x), -float64(float32(maxNorm)), float64(float32(maxNorm))); err != nil {
				return nil, err
			}
		}
	}
	if len(h.Phase) > cfg.HistoryLen || len(h.Phase) > sn.Turn {
		return nil, errors.New("phase history longer than allowed")
	}
	phaseHist := make([]uint8, 0, len(h.Phase))
	for _, p := range h.Phase {
		c, ok := phaseCode(p)
		if !ok {
			return nil, fmt.Errorf("unknown phase %q in history", p)
		}
		phaseHist = append(phaseHist, c)
	}
	d := sn.Drift
	if err := num("drift baseline", d.Ref, 0, 1); err != nil {
		return nil, err
	}
	if err := num("drift score", d.Last, 0, 1); err != nil {
		return nil, err
	}
	if d.Phase != driftPhase(d.Last) {
		return nil, errors.New("drift phase does not match the drift score")
	}
	if len(d.Recent) > driftRecentCap {
		return nil, errors.New("too many recent vectors")
	}
	for _, k := range d.Recent {
		if err := codes("recent vector", k); err != nil {
			return nil, err
		}
	}
	if sn.LastTriggerTurn < -1 || sn.LastTriggerTurn >= max(sn.Turn, 0) && sn.LastTriggerTurn != -1 {
		return nil, errors.New("last trigger turn out of range")
	}
	if sn.Realign < 0 || sn.Realign > realignTurns {
		return nil, errors.New("realignment counter out of range")
	}
	if sn.Pending != nil {
		if strings.TrimSpace(sn.Pending.Text) == "" {
			return nil, errors.New("empty pending message")
		}
		if err := text("pending message", sn.Pending.Text, math.MaxInt); err != nil {
			return nil, err
		}
		if err := codes("pending vector", sn.Pending.Vec); err != nil {
			return nil, err
		}
	}
	switch sn.Blocked {
	case blockNone, blockDropped, blockShadowed:
	default:
		return nil, fmt.Errorf("unknown blocked state %q", sn.Blocked)
	}
	if err := text("last response", sn.LastResponse, cfg.MaxLastResponseChars); err != nil {
		return nil, err
	}

	// The session runs under gov from the start (its caps are at least
	// cfg's): the key and token arenas are laid out for it.
	s := &Session{cfg: cfg}
	if gov != nil {
		s.cfg = *gov
	}
	s.initialized = sn.Initialized
	s.state = sn.State
	if !s.initialized {
		s.state = nil
	}
	s.turn, s.phase, s.fsm = sn.Turn, sn.Phase, sn.FSM
	s.betaHist, s.simHist, s.fsmHist, s.normHist, s.driftHist = h.Beta, h.Similarity, h.FSM, h.Norm, h.Drift
	if len(phaseHist) > 0 {
		s.phaseHist = phaseHist
	}
	s.drift = driftState{ref: d.Ref, last: d.Last, phase: d.Phase, at: d.At}
	if len(d.Recent) > 0 {
		s.drift.recent = make([]qvec, 0, driftRecentCap)
		for _, k := range d.Recent {
			s.drift.recent = append(s.drift.recent, qvec{k, vecmath.NormI8(k)})
		}
	}
	s.lastTriggerTurn, s.realign = sn.LastTriggerTurn, sn.Realign
	if sn.Pending != nil {
		s.pending = &message{text: sn.Pending.Text, vec: qvec{sn.Pending.Vec, vecmath.NormI8(sn.Pending.Vec)}, trigger: sn.Pending.Trigger}
	}
	// Import holds next_seq to maxTurn like the other counters. A checkpoint
	// written before that bound may hold more (only an imported session's):
	// it still loads, and renumbers at its next sequence number (takeSeq).
	if sn.NextSeq > maxTurn && src == fromImport {
		return nil, errors.New("next_seq out of range")
	}
	s.blocked, s.lastResponse, s.nextSeq = sn.Blocked, sn.LastResponse, sn.NextSeq

	// Memories: grouped by tier in order, caps respected, hashes unique and
	// consistent with the text, sequence numbers below next_seq.
	hashes := map[string]bool{}
	seqs := map[uint64]bool{}
	lastTier := 0
	for i := range sn.Memories {
		m := &sn.Memories[i]
		tier, ok := tierIndex(m.Tier)
		if !ok {
			return nil, fmt.Errorf("memory %d: unknown tier %q", i, m.Tier)
		}
		if tier < lastTier {
			return nil, errors.New("memories not grouped by tier")
		}
		lastTier = tier
		limit := cfg.MaxStoredChars
		if tier == tierLong {
			limit = cfg.LongTermTextChars
		}
		if strings.TrimSpace(m.Text) == "" {
			return nil, fmt.Errorf("memory %d: empty text", i)
		}
		if err := text(fmt.Sprintf("memory %d", i), m.Text, limit); err != nil {
			return nil, err
		}
		if m.Hash != hashText(m.Text) {
			return nil, fmt.Errorf("memory %d: hash does not match text", i)
		}
		if hashes[m.Hash] {
			return nil, fmt.Errorf("memory %d: duplicate hash", i)
		}
		hashes[m.Hash] = true
		if err := codes(fmt.Sprintf("memory %d key", i), m.Key); err != nil {
			return nil, err
		}
		if m.Timestamp != canonTime(m.Timestamp) {
			return nil, fmt.Errorf("memory %d: timestamp not in UTC", i)
		}
		if !importableTime(m.Timestamp) {
			return nil, fmt.Errorf("memory %d: timestamp outside 1677-09-21 to 2262-04-11", i)
		}
		if err := num("importance", m.Importance, 0, MaxImportance); err != nil {
			return nil, err
		}
		if m.AccessCount < 0 || m.AccessCount > maxTurn || m.Turn < 0 || m.Turn > sn.Turn || m.Merged < 1 || m.Merged > maxTurn ||
			m.LastAccess < 0 || m.LastAccess > sn.Turn {
			return nil, fmt.Errorf("memory %d: counter out of range", i)
		}
		if err := num("access weight", m.AccessWeight, 0, maxTurn); err != nil {
			return nil, err
		}
		if m.Seq >= sn.NextSeq || seqs[m.Seq] {
			return nil, fmt.Errorf("memory %d: bad sequence number", i)
		}
		seqs[m.Seq] = true
		mem := &memory{hash: m.Hash, key: qvec{m.Key, vecmath.NormI8(m.Key)}, tier: int32(tier),
			importance: m.Importance, access: m.AccessCount, accW: m.AccessWeight, lastAcc: m.LastAccess,
			turn: m.Turn, seq: m.Seq, merged: m.Merged, slot: -1}
		mem.setText(m.Text)
		mem.setTS(m.Timestamp)
		s.appendTier(tier, mem)
	}
	caps := [numTiers]int{cfg.ShortTermCap, cfg.MediumTermCap, cfg.LongTermCap}
	for t := range numTiers {
		if len(s.tiers[t]) > caps[t] {
			return nil, fmt.Errorf("%s holds more than %d memories", tierName(t), caps[t])
		}
	}

	// Triggers and anchors.
	if len(sn.Triggers) > cfg.MaxTriggers {
		return nil, errors.New("too many triggers")
	}
	for i, t := range sn.Triggers {
		if err := num("trigger threshold", t.Threshold, math.SmallestNonzeroFloat64, 1); err != nil {
			return nil, err
		}
		kw := t.Keyword
		switch {
		case kw != "" && len(t.Embedding) == 0:
			if err := text("trigger keyword", kw, maxTriggerKeywordChars); err != nil {
				return nil, err
			}
			if strings.TrimSpace(kw) == "" {
				return nil, fmt.Errorf("trigger %d: blank keyword", i)
			}
			s.triggers = append(s.triggers, trigger{keyword: kw, lower: toLower(kw), threshold: t.Threshold})
		case kw == "" && len(t.Embedding) > 0:
			if err := vec("trigger embedding", t.Embedding); err != nil {
				return nil, err
			}
			s.triggers = append(s.triggers, trigger{embedding: t.Embedding, threshold: t.Threshold})
		default:
			return nil, fmt.Errorf("trigger %d: needs exactly one of keyword or embedding", i)
		}
	}
	if len(sn.Anchors) > cfg.MaxAnchors {
		return nil, errors.New("too many anchors")
	}
	for _, a := range sn.Anchors {
		if err := vec("anchor", a); err != nil {
			return nil, err
		}
	}
	if sn.AnchorWeights != nil {
		if len(sn.AnchorWeights) != len(sn.Anchors) {
			return nil, fmt.Errorf("%d anchor weights for %d anchors", len(sn.AnchorWeights), len(sn.Anchors))
		}
		allOne := true
		for _, w := range sn.AnchorWeights {
			if !(w > 0 && w <= MaxAnchorWeight) {
				return nil, fmt.Errorf("anchor weight %v: must be greater than 0 and at most %d", w, MaxAnchorWeight)
			}
			allOne = allOne && w == 1
		}
		if allOne { // written only while some weight is not 1: canonical
			return nil, errors.New("anchor_weights given with every weight 1")
		}
	}
	s.anchors, s.anchorWeights = sn.Anchors, sn.AnchorWeights
	s.setAnchorCentroid()

	// Isolation and shadow buffer.
	iso := sn.Isolation
	if !validLevel(iso.Level) {
		return nil, fmt.Errorf("unknown isolation level %q", iso.Level)
	}
	if err := num("isolation threshold", iso.Threshold, math.SmallestNonzeroFloat64, 1); err != nil {
		return nil, err
	}
	if len(iso.Exclusion) > cfg.MaxIsolationVectors || len(iso.Allowlist) > cfg.MaxIsolationVectors {
		return nil, errors.New("too many isolation vectors")
	}
	for _, v := range append(append([][]float32{}, iso.Exclusion...), iso.Allowlist...) {
		if err := vec("isolation vector", v); err != nil {
			return nil, err
		}
	}
	s.iso = isolationPolicy{level: iso.Level, threshold: iso.Threshold, exclusion: iso.Exclusion, allowlist: iso.Allowlist}
	if len(sn.Shadow) > cfg.ShadowCap {
		return nil, errors.New("shadow buffer over capacity")
	}
	for i, sh := range sn.Shadow {
		if strings.TrimSpace(sh.Text) == "" {
			return nil, fmt.Errorf("shadow %d: empty text", i)
		}
		if err := text("shadow text", sh.Text, cfg.MaxStoredChars); err != nil {
			return nil, err
		}
		if err := text("shadow answer", sh.Answer, cfg.MaxStoredChars); err != nil {
			return nil, err
		}
		if err := codes("shadow vector", sh.Vec); err != nil {
			return nil, err
		}
		if (sh.Answer == "") != (len(sh.AnswerVec) == 0) {
			return nil, fmt.Errorf("shadow %d: answer and answer vector must come together", i)
		}
		item := shadowItem{text: sh.Text, vec: qvec{sh.Vec, vecmath.NormI8(sh.Vec)}, at: sh.At, answer: sh.Answer}
		if len(sh.AnswerVec) > 0 {
			if err := codes("shadow answer vector", sh.AnswerVec); err != nil {
				return nil, err
			}
			item.answerVec = qvec{sh.AnswerVec, vecmath.NormI8(sh.AnswerVec)}
		}
		s.shadow = append(s.shadow, item)
	}

	// Literal cache: strictly sorted by key.
	if len(sn.Entities) > cfg.MaxEntities {
		return nil, errors.New("too many entities")
	}
	for i, e := range sn.Entities {
		if i > 0 && sn.Entities[i-1].Key >= e.Key {
			return nil, errors.New("entities not strictly sorted by key")
		}
		if strings.TrimSpace(e.Key) == "" || !validKind(e.Kind) || e.Value == "" {
			return nil, fmt.Errorf("entity %d: invalid", i)
		}
		if msg := entityKeyProblem(e.Key); msg != "" {
			if src == fromPassivation {
				continue
			}
			return nil, fmt.Errorf("entity %d: key %q %s", i, e.Key, msg)
		}
		if text("entity key", e.Key, maxEntityKeyChars) != nil || text("entity value", e.Value, maxEntityValueChars) != nil ||
			text("entity context", e.Context, maxEntityContextChars) != nil {
			return nil, fmt.Errorf("entity %d: text invalid or too long", i)
		}
		if err := num("entity importance", e.Importance, 0, MaxImportance); err != nil {
			return nil, err
		}
		if e.AccessCount < 0 || e.AccessCount > maxTurn || e.Seq >= sn.NextSeq || seqs[e.Seq] {
			return nil, fmt.Errorf("entity %d: counter out of range", i)
		}
		seqs[e.Seq] = true
		s.entities = append(s.entities, newEntityEntry(Entity{Key: e.Key, Kind: e.Kind, Value: e.Value,
			Context: e.Context, Importance: e.Importance, AccessCount: e.AccessCount}, e.Seq))
	}
	if s.pending != nil {
		// Bounded like a pending question of Run (snapshots written before
		// that bound may hold a longer one); the memory it becomes is the same.
		s.pending.text = pendingText(s.pending.text, s.cfg.MaxStoredChars)
	}
	return s, nil
}

// upgradeV2 reads a format-2 snapshot as format 3: the memory policy at its
// defaults, and each memory's access weight its access count as of the
// current turn. Fields format 2 did not have must be absent (they would not
// be covered by its checksum otherwise: they are omitted when zero).
func (sn *snapshot) upgradeV2() error {
	c := sn.Config
	if c.FocusLine || c.InfoImportance || c.ForgetLowValue || c.AccessHalfLife != 0 || c.LexicalWeight != 0 {
		return errors.New("format semvec-go/2 has no memory policy")
	}
	sn.Config = c.WithMemoryPolicy()
	for i := range sn.Memories {
		m := &sn.Memories[i]
		if m.AccessWeight != 0 || m.LastAccess != 0 {
			return fmt.Errorf("memory %d: format semvec-go/2 has no access weight", i)
		}
		m.AccessWeight, m.LastAccess = float64(m.AccessCount), sn.Turn
	}
	return nil
}
