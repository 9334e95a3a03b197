package engine

import (
	"bytes"
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	semvec "github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/vecmath"
)

// Memory tiers.
const (
	tierShort = iota
	tierMedium
	tierLong
	numTiers
)

// Tier names as they appear on the wire.
const (
	TierShortTerm  = "short_term"
	TierMediumTerm = "medium_term"
	TierLongTerm   = "long_term"
)

// tierName is the wire name of tier index t.
func tierName(t int) string {
	switch t {
	case tierShort:
		return TierShortTerm
	case tierMedium:
		return TierMediumTerm
	}
	return TierLongTerm
}

func tierIndex(name string) (int, bool) {
	for t := range numTiers {
		if tierName(t) == name {
			return t, true
		}
	}
	return 0, false
}

// Importance and retention constants (see doc.go, "Tiers").
const (
	baseImportance    = 0.5  // a memory stored by a normal turn
	triggerImportance = 1.0  // a memory stored from a turn whose message fired a trigger
	DefaultImportance = 1.0  // InjectMemory and PutEntity when Importance is 0
	MaxImportance     = 10.0 // upper bound of every importance

	retentionImportance = 1.0  // w_i
	retentionAccess     = 0.3  // w_a, times ln(1+access_count)
	retentionRecency    = 0.5  // w_r, times exp(-age/recencyTurns)
	recencyTurns        = 10.0 // age is counted in accepted turns
	promoteFloor        = 0.6  // short-term evictees below this are forgotten
	forgetWeight        = 0.5  // ForgetLowValue: medium-term evictees used less than this are forgotten
	clusterMergeSim     = 0.55 // a medium evictee joins a cluster at least this similar
	qaAnswerWeight      = 0.3  // Q&A key = normalise(q̂ + 0.3·â)
)

// memory is one stored item. Its key's codes live in the session's key arena
// (slot); a change rewrites the slot after detaching any Verify-reference
// entry that shares it (see writeSlot), so the reference never sees a key
// change. Its text's token hashes live in the token arena under the same
// slot. Fields are ordered to keep the struct at 144 bytes.
type memory struct {
	key        qvec    // unit direction, int8 codes (see qvec)
	anchorCos  float32 // cos(key, anchor centroid); 0 without anchors
	plain      bool    // plainText(text): the context line is a prefix copy
	slot       int16   // key slot in the session's arena; -1 before insertion and after removal
	hash       string
	text       string // set with setText
	importance float64
	access     int     // accesses ever (access_count)
	accW       float64 // access weight at turn lastAcc, decaying with AccessHalfLife
	lastAcc    int     // turn of the last access (or of creation)
	turn       int     // turn index of creation or last dedup merge (recency)
	seq        uint64  // creation order
	merged     int     // items consolidated into it (1 for a plain memory)
	tsSec      int64   // timestamp (canonTime): Unix seconds ...
	tsNsec     int32   // ... and nanoseconds
	tier       int32
}

// setText sets the text and its plain flag.
func (m *memory) setText(t string) {
	m.text = t
	m.plain = plainText(t)
}

// plainText reports whether t is printable ASCII whose white space is single
// ' ' or '\n' bytes between other characters. Then normText(t) is t with
// '\n' read as ' ', and every character is one byte.
func plainText(t string) bool {
	if t == "" || t[0] == ' ' || t[0] == '\n' || t[len(t)-1] == ' ' || t[len(t)-1] == '\n' {
		return false
	}
	ws := false
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c == ' ' || c == '\n':
			if ws {
				return false
			}
			ws = true
		case c < ' ' || c > '~':
			return false
		default:
			ws = false
		}
	}
	return true
}

// appendLine appends lineClip(m.text, n) to dst and returns it with the
// number of characters appended.
func (m *memory) appendLine(dst []byte, n int) ([]byte, int) {
	if !m.plain || n < 3 {
		return appendLineClip(dst, n, m.text)
	}
	t, cut := m.text, false
	if len(t) > n {
		t, cut = t[:n-3], true
	}
	start := len(dst)
	dst = append(dst, t...)
	for line := dst[start:]; ; {
		i := bytes.IndexByte(line, '\n')
		if i < 0 {
			break
		}
		line[i] = ' '
		line = line[i+1:]
	}
	if cut {
		dst = append(dst, "..."...)
	}
	return dst, len(dst) - start
}

// ts returns the memory's timestamp.
func (m *memory) ts() time.Time {
	if m.tsSec == zeroUnix && m.tsNsec == 0 {
		return time.Time{}
	}
	return time.Unix(m.tsSec, int64(m.tsNsec)).UTC()
}

// setTS sets the timestamp; t must be canonical (canonTime).
func (m *memory) setTS(t time.Time) { m.tsSec, m.tsNsec = t.Unix(), int32(t.Nanosecond()) }

// tsCompare compares the timestamps of a and b like time.Time.Compare.
func tsCompare(a, b *memory) int {
	switch {
	case a.tsSec != b.tsSec:
		return cmpInt(a.tsSec, b.tsSec)
	default:
		return cmpInt(int64(a.tsNsec), int64(b.tsNsec))
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// zeroUnix is time.Time{}.Unix().
const zeroUnix = -62135596800

// TotalMemories returns the number of memories over all tiers.
func (s *Session) TotalMemories() int {
	return len(s.tiers[tierShort]) + len(s.tiers[tierMedium]) + len(s.tiers[tierLong])
}

// eachMemory calls f for every memory in canonical order: short, medium,
// long, each in tier order. The index counts across tiers.
func (s *Session) eachMemory(f func(i int, m *memory)) {
	i := 0
	for _, tier := range s.tiers {
		for _, m := range tier {
			f(i, m)
			i++
		}
	}
}

// memoryAt returns the memory with canonical index i.
func (s *Session) memoryAt(i int) *memory {
	for _, tier := range s.tiers {
		if i < len(tier) {
			return tier[i]
		}
		i -= len(tier)
	}
	return nil
}

// hashKey is the first 8 bytes of a memory hash packed into a word: the
// entry of hkeys. Equal hashes have equal keys; a key match is confirmed on
// the string.
func hashKey(h string) uint64 {
	if len(h) >= 8 {
		_ = h[7]
		return uint64(h[0]) | uint64(h[1])<<8 | uint64(h[2])<<16 | uint64(h[3])<<24 |
			uint64(h[4])<<32 | uint64(h[5])<<40 | uint64(h[6])<<48 | uint64(h[7])<<56
	}
	var k uint64
	for i := 0; i < len(h); i++ {
		k |= uint64(h[i]) << (8 * i)
	}
	return k
}

// findHash returns the memory with hash h, nil when there is none. It scans
// the compact hkeys index and reads a memory only on a key match.
func (s *Session) findHash(h string) *memory {
	return s.findHashExcept(h, nil)
}

// findHashExcept is findHash ignoring the memory skip.
func (s *Session) findHashExcept(h string, skip *memory) *memory {
	k := hashKey(h)
	for t := range s.tiers {
		tier := s.tiers[t]
		for i, x := range s.hkeys[t][:len(tier)] {
			if x == k {
				if m := tier[i]; m != skip && m.hash == h {
					return m
				}
			}
		}
	}
	return nil
}

// appendTier appends m to tier t (m.tier must be t) and to the hash and slot
// indexes. A memory without a slot (a new one) gets one, and its key's codes
// and text's tokens are written into it.
func (s *Session) appendTier(t int, m *memory) {
	if m.slot < 0 {
		m.slot = s.allocSlot()
		m.key = s.writeSlot(m.slot, m.key)
		s.writeTokens(m)
	}
	s.tiers[t] = append(s.tiers[t], m)
	s.hkeys[t] = append(s.hkeys[t], hashKey(m.hash))
	s.slots[t] = append(s.slots[t], m.slot)
}

// The key arena: slot i holds the codes [i·Dim, (i+1)·Dim) of one memory key
// in keyArena and its norm in keyNorm, so scoring streams through one block.
// It is allocated lazily and grows by half (at least arenaGrowSlots slots)
// up to slotCap: 8, 16, 24, 36, 54, 66 slots with the default caps.
// Doubling would leave up to half the block unused (at 51 memories, 13
// empty slots of Dim bytes), more than the footprint budget allows.

// arenaGrowSlots is the smallest growth step of the key arena, in slots.
const arenaGrowSlots = 8

// slotCap is the most slots a session can use at once: every tier full and
// the memory being inserted.
func (s *Session) slotCap() int {
	return s.cfg.ShortTermCap + s.cfg.MediumTermCap + s.cfg.LongTermCap + 1
}

// slotCodes returns the codes of slot sl.
func (s *Session) slotCodes(sl int16) []int8 {
	d := s.cfg.Dim
	o := int(sl) * d
	return s.keyArena[o : o+d : o+d]
}

// allocSlot returns a free slot, growing the arena when all are used.
func (s *Session) allocSlot() int16 {
	if n := len(s.freeSlots); n > 0 {
		sl := s.freeSlots[n-1]
		s.freeSlots = s.freeSlots[:n-1]
		return sl
	}
	used := len(s.keyNorm)
	if used == cap(s.keyNorm) {
		s.growArena(max(used+1, min(used+max(arenaGrowSlots, used/2), s.slotCap())))
	}
	s.keyNorm = s.keyNorm[:used+1]
	s.keyArena = s.keyArena[:(used+1)*s.cfg.Dim]
	if s.tokArena != nil {
		s.tokLen = s.tokLen[:used+1]
		s.tokSig = s.tokSig[:used+1]
		s.tokArena = s.tokArena[:(used+1)*maxMemTokens]
	}
	return int16(used)
}

// growArena moves the arena to room for n slots and points every memory key
// at its new place. The old block is never written again, so a Verify
// reference that shares keys in it stays valid.
func (s *Session) growArena(n int) {
	arena := make([]int8, len(s.keyArena), n*s.cfg.Dim)
	copy(arena, s.keyArena)
	norm := make([]float32, len(s.keyNorm), n)
	copy(norm, s.keyNorm)
	s.keyArena, s.keyNorm = arena, norm
	if s.cfg.lexicalOn() {
		toks := make([]uint16, len(s.tokArena), n*maxMemTokens)
		copy(toks, s.tokArena)
		lens := make([]uint8, len(s.tokLen), n)
		copy(lens, s.tokLen)
		sigs := make([]uint64, len(s.tokSig), n)
		copy(sigs, s.tokSig)
		s.tokArena, s.tokLen, s.tokSig = toks, lens, sigs
	}
	for _, tier := range s.tiers {
		for _, m := range tier {
			m.key.k = s.slotCodes(m.slot)
		}
	}
}

// writeSlot copies q into slot sl and returns the key held there. A Verify
// reference entry sharing the slot's codes gets its own copy first.
func (s *Session) writeSlot(sl int16, q qvec) qvec {
	dst := s.slotCodes(sl)
	if s.ref != nil {
		s.ref.detach(dst)
	}
	copy(dst, q.k)
	s.keyNorm[sl] = q.n
	return qvec{dst, q.n}
}

// freeSlot releases the slot of m, which has left the tiers for good.
func (s *Session) freeSlot(m *memory) {
	if m.slot >= 0 {
		s.freeSlots = append(s.freeSlots, m.slot)
		m.slot = -1
	}
}

// setHash changes the hash of m, which is in its tier, keeping the index.
func (s *Session) setHash(m *memory, h string) {
	m.hash = h
	for i, x := range s.tiers[m.tier] {
		if x == m {
			s.hkeys[m.tier][i] = hashKey(h)
			return
		}
	}
}

func (s *Session) removeMemory(m *memory) {
	tier := s.tiers[m.tier]
	for i, x := range tier {
		if x == m {
			copy(tier[i:], tier[i+1:])
			tier[len(tier)-1] = nil
			s.tiers[m.tier] = tier[:len(tier)-1]
			hk := s.hkeys[m.tier]
			copy(hk[i:], hk[i+1:])
			s.hkeys[m.tier] = hk[:len(hk)-1]
			sl := s.slots[m.tier]
			copy(sl[i:], sl[i+1:])
			s.slots[m.tier] = sl[:len(sl)-1]
			return
		}
	}
}

// accessWeight is m's access weight now: with AccessHalfLife h, the weight
// at its last access halved every h turns since; without, access_count.
// Without a half-life the weight never decays and equals access_count.
func (s *Session) accessWeight(m *memory) float64 {
	if h := s.cfg.AccessHalfLife; h != 0 && m.accW != 0 {
		if age := s.turn - m.lastAcc; age > 0 {
			return m.accW * math.Exp2(-float64(age)/float64(h))
		}
	}
	return m.accW
}

// touch counts one access of m: access_count+1, and the decayed access
// weight + 1 as of this turn.
func (s *Session) touch(m *memory) {
	m.accW = addCount(s.accessWeight(m), 1)
	m.lastAcc = s.turn
	m.access = addCount(m.access, 1)
}

// addCount is a+b for a counter of the state (an access count or weight,
// merged items), stopping at maxTurn, which the decoders do not accept more
// than. a and b are in [0, maxTurn], so the sum cannot overflow.
func addCount[T int | float64](a, b T) T { return min(a+b, maxTurn) }

// takeSeq returns the next sequence number. Sequence numbers only order the
// memories and entities among themselves (creation or write order), so when
// next_seq has reached maxTurn (only a session imported with it near there
// gets that far) they are first renumbered 0, 1, … in the same order, and
// next_seq never passes what the decoders accept.
func (s *Session) takeSeq() uint64 {
	if s.nextSeq >= maxTurn {
		s.renumberSeqs()
	}
	s.nextSeq++
	return s.nextSeq - 1
}

// renumberSeqs numbers the memories and entities 0, 1, … in the order of
// their sequence numbers (unique, see fromSnapshot) and sets next_seq to
// their count.
func (s *Session) renumberSeqs() {
	seqs := make([]*uint64, 0, s.TotalMemories()+len(s.entities))
	s.eachMemory(func(_ int, m *memory) { seqs = append(seqs, &m.seq) })
	for i := range s.entities {
		seqs = append(seqs, &s.entities[i].seq)
	}
	slices.SortFunc(seqs, func(a, b *uint64) int { return cmp.Compare(*a, *b) })
	for i, p := range seqs {
		*p = uint64(i)
	}
	s.nextSeq = uint64(len(seqs))
}

// recency is exp(-age/τ) of m.
func (s *Session) recency(m *memory) float64 {
	if age := max(0, s.turn-m.turn); age != 0 {
		return math.Exp(-float64(age) / recencyTurns)
	}
	return 1
}

// retentionRec is m's retention, importance·w_i + ln(1+access weight)·w_a +
// rec·w_r, with rec its recency (exp(-age/τ)). ln(1+0) = 0 is taken without
// the call.
func (s *Session) retentionRec(m *memory, rec float64) float64 {
	lg := 0.0
	if w := s.accessWeight(m); w != 0 {
		lg = math.Log1p(w)
	}
	return retentionImportance*m.importance + retentionAccess*lg + retentionRecency*rec
}

// lowestRetention returns the tier member with the lowest retention other than
// protect (ties: the oldest in tier order), and its retention.
//
// Members that provably cannot be below the current minimum are skipped
// without evaluating Log1p and Exp: retention rises with importance, access
// and recency, so a member at least as important, at least as accessed and
// at most as old as the current minimum is not below it, and retention is at
// least importance (+0.3·ln 2 once accessed, without decay). With decay, a
// member whose access weight is at least the minimum's and was last touched
// no earlier has at least its decayed weight. The result is the same as
// evaluating every member.
func (s *Session) lowestRetention(tier int, protect *memory) (*memory, float64) {
	var worst *memory
	worstR := math.Inf(1)
	decay := s.cfg.AccessHalfLife != 0
	for _, m := range s.tiers[tier] {
		if m == protect {
			continue
		}
		lb := retentionImportance * m.importance
		if m.access > 0 && !decay {
			lb += retentionAccessMin
		}
		if lb >= worstR {
			continue
		}
		if worst != nil && m.importance >= worst.importance && m.turn >= worst.turn {
			if !decay && (m.access == worst.access || m.access > worst.access && m.access < monotoneAccess) {
				continue
			}
			// A weight at least as large, last touched no earlier, has
			// decayed no more.
			if decay && m.accW >= worst.accW && m.lastAcc >= worst.lastAcc {
				continue
			}
		}
		// Rounding is monotone, so importance·w_i + recency·w_r (the access
		// term left out) is a lower bound of the retention as computed.
		rec := s.recency(m)
		if retentionImportance*m.importance+retentionRecency*rec >= worstR {
			continue
		}
		if r := s.retentionRec(m, rec); r < worstR {
			worst, worstR = m, r
		}
	}
	return worst, worstR
}

const (
	// retentionAccessMin is a lower bound of retentionAccess·ln(1+access)
	// for access >= 1 (0.3·ln 2 = 0.2079...).
	retentionAccessMin = 0.2
	// monotoneAccess bounds the access counts whose Log1p values are far
	// more than an ulp apart, so a larger count has a larger value.
	monotoneAccess = 1 << 20
)

// addMemory stores text under key in the given tier, or merges it into the
// memory that already has the same normalised text (access_count+1,
// importance = max, timestamp = now, recency refreshed; key kept, tier kept
// unless tier is higher: see promote). key is copied into the key arena (or
// merged into a cluster's) and not kept: the caller may reuse its codes
// afterwards. It returns the tier the text is in now.
func (s *Session) addMemory(text string, key qvec, importance float64, access int, tier int, now time.Time) int {
	return s.addMemoryTokens(text, key, importance, access, tier, now, nil)
}

// addMemoryTokens is addMemory with the text's token list when the caller
// has it (toks.n > 0, for the text before cleaning and clipping); nil or
// empty means it is computed from the text.
func (s *Session) addMemoryTokens(text string, key qvec, importance float64, access int, tier int, now time.Time, toks *tokHashes) int {
	raw := text
	text = clipText(cleanText(text), s.cfg.MaxStoredChars)
	h := hashText(text)
	if m := s.findHash(h); m != nil {
		s.touch(m)
		m.importance = math.Max(m.importance, importance)
		m.setTS(now)
		m.turn = s.turn
		if tier > int(m.tier) {
			s.promote(m, tier)
			return tier
		}
		return int(m.tier)
	}
	m := &memory{hash: h, key: key, tier: int32(tier), importance: importance,
		access: access, accW: float64(access), lastAcc: s.turn, turn: s.turn, seq: s.takeSeq(), merged: 1, slot: -1}
	m.setText(text)
	m.setTS(now)
	m.anchorCos = s.anchorCos(key)
	switch {
	case tier == tierLong: // only InjectMemory names it: an explicit memory
		s.consolidate(m, true)
	case toks != nil && toks.n > 0 && text == raw && s.cfg.lexicalOn():
		m.slot = s.allocSlot()
		m.key = s.writeSlot(m.slot, m.key)
		s.setTokens(m.slot, toks)
		s.appendTier(tier, m)
	default:
		s.appendTier(tier, m)
	}
	s.rebalance(m)
	return tier // the new memory is never the one rebalance moves
}

// promote moves m up to tier, where an injection asked for its text, as if
// it had been injected there: into medium term, whose member with the
// lowest retention (never m) then moves on if the tier overflows; into long
// term as a cluster of its own while the tier has room, else merged into
// the most similar cluster (consolidate).
func (s *Session) promote(m *memory, tier int) {
	s.removeMemory(m)
	if tier == tierLong {
		s.consolidate(m, true)
		return
	}
	m.tier = int32(tier)
	s.appendTier(tier, m)
	s.rebalance(m)
}

// rebalance restores the tier caps after an insertion. The short-term member
// with the lowest retention is promoted to medium term when its retention is
// at least promoteFloor and forgotten otherwise; the medium-term member with
// the lowest retention is consolidated into long term, unless ForgetLowValue
// drops it (base importance and an access weight below forgetWeight).
// protect (the new memory) is never the one moved.
func (s *Session) rebalance(protect *memory) {
	for len(s.tiers[tierShort]) > s.cfg.ShortTermCap {
		m, r := s.lowestRetention(tierShort, protect)
		s.removeMemory(m)
		if r >= promoteFloor {
			m.tier = tierMedium
			s.appendTier(tierMedium, m)
		} else {
			s.freeSlot(m)
		}
	}
	for len(s.tiers[tierMedium]) > s.cfg.MediumTermCap {
		m, _ := s.lowestRetention(tierMedium, protect)
		s.removeMemory(m)
		if s.cfg.ForgetLowValue && m.importance <= baseImportance && s.accessWeight(m) < forgetWeight {
			s.freeSlot(m)
			continue
		}
		s.consolidate(m, false)
	}
}

// consolidate moves m (already detached) into long term: as a new cluster when
// there is room and no cluster is at least clusterMergeSim similar, or when
// there is room and m is its own (a memory injected into long term, or
// promoted there by an injection, whose text is not a stored one: the same
// text merged in addMemory); otherwise merged into the most similar cluster
// (mergeText).
func (s *Session) consolidate(m *memory, own bool) {
	var best *memory
	bestSim := math.Inf(-1)
	d := s.cfg.Dim
	slots := s.slots[tierLong]
	for i, c := range s.tiers[tierLong] {
		// cosQ(c.key, m.key), read from the arena: no memory struct is read.
		o := int(slots[i]) * d
		if sim := float64(vecmath.CosineI8(s.keyArena[o:o+d:o+d], s.keyNorm[slots[i]], m.key.k, m.key.n)); sim > bestSim {
			best, bestSim = c, sim
		}
	}
	if best == nil || len(s.tiers[tierLong]) < s.cfg.LongTermCap && (own || bestSim < clusterMergeSim) {
		m.tier = tierLong
		if t := clipText(m.text, s.cfg.LongTermTextChars); t != m.text {
			m.setText(t)
			m.hash = hashText(t) // m is detached: appendTier indexes it
			s.writeTokens(m)
		}
		s.appendTier(tierLong, m)
		s.fixCollision(m)
		return
	}
	// The cluster's text is usually cold: start loading it, and merge the
	// keys (which do not touch texts) while it comes.
	prefetchText(best.text)
	single := best.merged == 1
	s.absorb(best, m)
	text := mergeText(best.text, best.plain, single, m.text, m.plain, s.cfg.LongTermTextChars)
	s.freeSlot(m)
	if text != best.text {
		s.extendTokens(best, text)
		best.setText(text)
		s.setHash(best, hashTextPlain(text, best.plain))
		s.fixCollision(best)
	}
}

// mergeText is the text of a cluster after item text joined it. When an
// item of the cluster equals it (after normalisation) nothing is added:
// that item becomes the newest (renewItem); text that merely contains it
// does not count. Otherwise the item goes on a new line after the cluster's
// items, keeping the newest: when the whole would exceed n characters, the
// cluster's oldest items (see itemStart) are dropped, whole, until it fits;
// an item that does not fit on its own is the whole text, clipped to n
// characters ("..."). The item that just arrived is always kept, and the
// text never exceeds n characters.
//
// The item joins as one line (flattenItem), and so does the cluster's text
// when it is a single memory's (single: merged == 1), so that every line of
// a merged text starts an item. Line breaks and spaces read the same for
// the hash, the tokens and the context line. clusterPlain and itemPlain are
// the texts' plainText (memory.plain): such a text has one byte per
// character and a cheap normal form.
func mergeText(cluster string, clusterPlain, single bool, item string, itemPlain bool, n int) string {
	var found bool
	if clusterPlain && itemPlain {
		found = containsPlain(cluster, item)
	} else {
		buf := getScratch()
		found = bytes.Contains(appendNorm(buf.n1[:0], cluster), appendNorm(buf.n2[:0], item))
		buf.put()
	}
	if found { // a cheap filter: only an item equal to it counts
		if text, ok := renewItem(cluster, single, item); ok {
			return text
		}
	}
	item = flattenItem(item)
	if single {
		cluster = flattenItem(cluster)
	}
	chars := func(s string, plain bool) int {
		if plain {
			return len(s)
		}
		return runeLen(s)
	}
	room := n - 1 - chars(item, itemPlain) // characters left for the cluster's items
	if room <= 0 {
		return clipText(item, n)
	}
	cl := chars(cluster, clusterPlain)
	kind := itemKind(cluster)
	for start := 0; start < len(cluster); {
		if cl <= room {
			return cluster[start:] + "\n" + item
		}
		end, next := nextItem(cluster, start, kind)
		if end == len(cluster) {
			break
		}
		cl -= chars(cluster[start:end+1], clusterPlain)
		start, kind = end+1, next
	}
	return clipText(item, n)
}

// renewItem is cluster with its item equal to item (after normalisation)
// moved last, as the newest (cluster as it is when that item is already
// last), and whether it has one. Text that merely contains item (a longer
// item, or one running across two items: "db port 8080" holds "db port
// 80") does not: item is then added as a new one. single: the cluster is
// one memory's text, a single item.
func renewItem(cluster string, single bool, item string) (string, bool) {
	buf := getScratch()
	defer buf.put()
	want := appendNorm(buf.n2[:0], item)
	if single {
		return cluster, bytes.Equal(appendNorm(buf.n1[:0], cluster), want)
	}
	kind := itemKind(cluster)
	for start := 0; start < len(cluster); {
		end, next := nextItem(cluster, start, kind)
		if bytes.Equal(appendNorm(buf.n1[:0], cluster[start:end]), want) {
			if end == len(cluster) {
				return cluster, true // already the newest
			}
			return cluster[:start] + cluster[end+1:] + "\n" + cluster[start:end], true
		}
		start, kind = end+1, next
	}
	return cluster, false
}

// flattenItem is the text of one memory as one item of a merged text: its
// line breaks become spaces, except the one before the answer of a "Q: "
// text (its first "\nA: "). A plain text stays plain.
func flattenItem(t string) string {
	i := strings.IndexByte(t, '\n')
	if i < 0 {
		return t
	}
	ans := -1
	if itemKind(t) == 'Q' {
		ans = strings.Index(t, "\nA: ")
		if i == ans && strings.IndexByte(t[i+1:], '\n') < 0 {
			return t // a one-line question and a one-line answer
		}
	}
	b := []byte(t)
	for i, c := range b {
		if c == '\n' && i != ans {
			b[i] = ' '
		}
	}
	return string(b)
}

// absorb folds src's statistics into dst: the key becomes the member-weighted
// centroid (new codes), access counts add up, importance and recency take the
// maximum. dst keeps its text and tier; src must be detached by the caller.
func (s *Session) absorb(dst, src *memory) {
	wd, ws := float64(dst.merged), float64(src.merged)
	id, is := dst.key.inv(), src.key.inv()
	dk, sk := dst.key.k, src.key.k[:len(dst.key.k)]
	// wd·d̂ + ws·ŝ, quantised: QuantizeI8 is scale-invariant, so the sum
	// need not be normalised first.
	buf := getScratch()
	defer buf.put()
	tmp := floatsBuf(&buf.f, len(dk))
	vecmath.MixI8(tmp, dk, id, wd, sk, is, ws)                           // float32(wd·(d·id) + ws·(s·is))
	if key := quantizeInto(codesBuf(&buf.q, len(tmp)), tmp); key.n > 0 { // a sum that cancels out keeps the key
		dst.key = s.writeSlot(dst.slot, key)
		dst.anchorCos = s.anchorCos(key)
	}
	dst.access = addCount(dst.access, src.access)
	dst.accW = addCount(s.accessWeight(dst), s.accessWeight(src))
	dst.lastAcc = s.turn
	dst.importance = math.Max(dst.importance, src.importance)
	if tsCompare(src, dst) > 0 {
		dst.tsSec, dst.tsNsec = src.tsSec, src.tsNsec
	}
	dst.turn = max(dst.turn, src.turn)
	dst.merged = addCount(dst.merged, src.merged)
}

// fixCollision keeps memory hashes unique: when m's (new) hash equals another
// memory's, the two texts are identical after normalisation and m is merged
// into the other one.
func (s *Session) fixCollision(m *memory) {
	if o := s.findHashExcept(m.hash, m); o != nil {
		s.removeMemory(m)
		s.absorb(o, m)
		s.freeSlot(m)
	}
}

// MemoryView is the expanded form of one memory.
type MemoryView struct {
	MemoryHash  string
	Text        string
	Tier        string
	Importance  float64
	AccessCount int
	Timestamp   time.Time
}

// Memory returns the memory with the given hash. Expanding a memory is a read:
// it does not count as an access. A long-term cluster's hash changes when
// another item is merged into it.
func (s *Session) Memory(hash string) (MemoryView, bool) {
	m := s.findHash(hash)
	if m == nil {
		return MemoryView{}, false
	}
	return MemoryView{MemoryHash: m.hash, Text: m.text, Tier: tierName(int(m.tier)),
		Importance: m.importance, AccessCount: m.access, Timestamp: m.ts()}, true
}

// InjectInput is a synthetic memory for InjectMemory.
type InjectInput struct {
	Text        string
	Embedding   []float32
	Tier        string  // short_term | medium_term | long_term; "" means short_term
	Importance  float64 // [0, 10]; 0 means DefaultImportance (1.0)
	AccessCount int     // [0, 2^50]
	Now         time.Time
}

// Injected is what InjectMemory did.
type Injected struct {
	Tier  string // the tier the injected text is in now (see InjectMemory)
	Total int    // the number of memories
}

// InjectMemory stores a memory directly, bypassing the state update, the
// isolation filter and the pending question. Identical text (after
// cleaning and clipping to MaxStoredChars) merges into the existing memory
// (access_count+1, importance = max, timestamp = now); when the requested
// tier is higher than that memory's, the memory moves up to it as if it had
// been injected there (promote); it never moves down. A memory injected into
// long term is a cluster of its own while the tier has room, however
// similar it is to another; injected into a full tier it merges into the
// most similar cluster, whose text keeps its newest items and always the
// one just injected (mergeText). It returns the tier the text is in now
// (the requested one, or the higher one of the memory it merged into) and
// the total number of memories.
func (s *Session) InjectMemory(in InjectInput) (Injected, error) {
	if strings.TrimSpace(in.Text) == "" {
		return Injected{}, semvec.FieldError("text", "must not be empty")
	}
	if err := checkVec("embedding", in.Embedding, s.cfg.Dim); err != nil {
		return Injected{}, err
	}
	name := in.Tier
	if name == "" {
		name = TierShortTerm
	}
	tier, ok := tierIndex(name)
	if !ok {
		return Injected{}, semvec.FieldError("tier", "must be one of short_term, medium_term, long_term")
	}
	imp, err := importanceOrDefault(in.Importance)
	if err != nil {
		return Injected{}, err
	}
	if in.AccessCount < 0 || in.AccessCount > maxTurn {
		return Injected{}, semvec.FieldError("access_count", "must be between 0 and %d", maxTurn)
	}
	now := canonTime(in.Now)
	if c := s.heldInLongTerm(in.Text, tier == tierLong); c != nil { // it is there already, clipped
		s.touch(c)
		c.importance = math.Max(c.importance, imp)
		c.setTS(now)
		c.turn = s.turn
		return Injected{Tier: TierLongTerm, Total: s.TotalMemories()}, nil
	}
	at := s.addMemory(in.Text, quantize(in.Embedding), imp, in.AccessCount, tier, now)
	return Injected{Tier: tierName(at), Total: s.TotalMemories()}, nil
}

// heldInLongTerm returns the long-term cluster that holds text when no
// memory is text itself: long term keeps a text clipped to
// LongTermTextChars, as a cluster of its own or as one of a merged
// cluster's items (renewItem), so an injection of the whole text again
// would otherwise store a second copy. Nil when none does, or when a
// memory is text as given (addMemory finds that one). toLong: the
// injection is into long term, where a merged cluster's item is left to
// consolidate, which makes it the cluster's newest (mergeText).
func (s *Session) heldInLongTerm(text string, toLong bool) *memory {
	text = clipText(cleanText(text), s.cfg.MaxStoredChars)
	if s.findHash(hashText(text)) != nil {
		return nil
	}
	clipped := clipText(text, s.cfg.LongTermTextChars)
	if m := s.findHash(hashText(clipped)); m != nil && m.tier == tierLong {
		return m
	}
	if toLong {
		return nil
	}
	item := flattenItem(clipped)
	for _, c := range s.tiers[tierLong] {
		if c.merged > 1 {
			if _, ok := renewItem(c.text, false, item); ok {
				return c
			}
		}
	}
	return nil
}

// importanceOrDefault validates an importance in [0, 10]; 0 means 1.0.
func importanceOrDefault(v float64) (float64, error) {
	if !finite(v) || v < 0 || v > MaxImportance {
		return 0, semvec.FieldError("importance", "must be between 0 and 10")
	}
	if v == 0 {
		return DefaultImportance, nil
	}
	return v, nil
}

// scoreMemories fills dst (grown when short) with cos(key, q) for every
// memory in canonical order and returns it. It is the one scoring pass of a
// turn.
func (s *Session) scoreMemories(dst []float32, q qvec) []float32 {
	n := s.TotalMemories()
	if cap(dst) < n {
		dst = make([]float32, n)
	}
	sc := dst[:n]
	d := s.cfg.Dim
	arena, norm := s.keyArena, s.keyNorm
	i := 0
	for _, slots := range s.slots {
		for _, sl := range slots {
			o := int(sl) * d
			sc[i] = vecmath.CosineI8(arena[o:o+d:o+d], norm[sl], q.k, q.n) // cosQ(m.key, q)
			i++
		}
	}
	return sc
}

// addAnchorBias turns the scores of scoreMemories into retrieval scores:
// + anchorRetrievalBias·cos(key, anchor centroid) when anchors exist.
func (s *Session) addAnchorBias(scores []float32) {
	if s.anchorCentroid == nil {
		return
	}
	i := 0
	for _, tier := range s.tiers {
		for _, m := range tier {
			scores[i] = float32(float64(scores[i]) + anchorRetrievalBias*float64(m.anchorCos))
			i++
		}
	}
}

// anchorCos is cos(key, anchor centroid), 0 without anchors.
func (s *Session) anchorCos(key qvec) float32 {
	if !s.anchorQ.ok() {
		return 0
	}
	return cosQ(key, s.anchorQ)
}

// topK returns the indices of the k highest scores, best first; ties keep the
// lower index.
func topK(scores []float32, k int) []int {
	return topKInto(make([]int, 0, max(0, min(k, len(scores)))), scores, k)
}

// topKInto is topK appending to dst[:0]; it allocates only when dst is short.
func topKInto(dst []int, scores []float32, k int) []int {
	k = min(k, len(scores))
	out := dst[:0]
	for i, sc := range scores {
		pos := len(out)
		for pos > 0 && scores[out[pos-1]] < sc {
			pos--
		}
		if pos >= k {
			continue
		}
		if len(out) < k {
			out = append(out, 0)
		}
		copy(out[pos+1:], out[pos:len(out)-1])
		out[pos] = i
	}
	return out
}
