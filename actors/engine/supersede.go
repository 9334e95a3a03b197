package engine

// Corrections (see doc.go, "Context block"): a user who states a fact and,
// turns later, corrects it ("My address is 12 Birch Lane" … "I moved! My
// address is now 48 Quarry Road") expects the newer statement to win, but
// the older one is often the closer match to the question, and a context
// line carries no age. So among the memories shown, a newer statement of
// the same subject is written above the older one it supersedes.

const (
	// supersedeShare: a newer memory whose retrieval score is at least this
	// share of the older one's matches the question about as well.
	supersedeShare = 0.8
	// supersedeCos: or its key is at least this close to the older one's.
	supersedeCos = 0.5
	// supersedeImportance: the importance a newer memory needs (when the
	// older one has more): with information-based importance, at least two
	// tokens that no memory held when it was stored.
	supersedeImportance = 0.8
)

// supersedes reports whether memory b replaces memory a, ranked above it, in
// the context block: b is a single statement (not a cluster, whose turn is
// its newest item's, not necessarily the matching one's) stored at a later
// turn (ties: created later); it holds every query token a holds (masks mb
// and ma, bit j: query token j; a holds at least one); it brought new
// information (importance at least a's or supersedeImportance, so a later
// "I don't know", with no new tokens, does not pass the fact it fails to
// give); and it answers the question about as well as a (retrieval score sb
// at least supersedeShare of a's sa) or is a near-duplicate of a (key cosine
// at least supersedeCos).
func (s *Session) supersedes(b, a *memory, mb, ma uint64, sb, sa float32) bool {
	if b.merged != 1 || ma == 0 || ma&^mb != 0 || b.importance < min(a.importance, supersedeImportance) {
		return false
	}
	if b.turn < a.turn || b.turn == a.turn && b.seq <= a.seq {
		return false
	}
	return sb >= supersedeShare*sa || cosQ(b.key, a.key) >= supersedeCos
}

// supersede reorders top (canonical indices, best first): going down the
// list, a memory that supersedes one ranked above it moves right before the
// highest-ranked such one, the memories between moving down one place, and
// its shown score (disp, parallel to top) becomes that memory's, so the
// scores shown still descend. scores are the retrieval scores of every
// memory in canonical order, masks their query-token masks (addLexical);
// nil masks leave top as it is. It reads only the shown memories' turns,
// importance and keys, the scores and the masks — the order is a function
// of the session's state and the message, never of the clock — and costs at
// most len(top)²/2 comparisons and key cosines (len(top) ≤ MaxContextTopK).
func (s *Session) supersede(top []int, scores, disp []float32, masks []uint64) {
	if masks == nil {
		return
	}
	for r := 1; r < len(top); r++ {
		b := s.memoryAt(top[r])
		mb := masks[top[r]]
		for p := 0; p < r; p++ {
			if !s.supersedes(b, s.memoryAt(top[p]), mb, masks[top[p]], scores[top[r]], scores[top[p]]) {
				continue
			}
			i := top[r]
			copy(top[p+1:r+1], top[p:r])
			copy(disp[p+1:r+1], disp[p:r])
			top[p] = i
			disp[p] = disp[p+1]
			break
		}
	}
}
