package engine

import semvec "github.com/semvec-go/semvec"

// Reranking (see doc.go, "Context block"): the HTTP layer asks
// RerankCandidates for the memories to offer a reranker, outside the
// session's turn, and hands its scores to Run in RunInput.Rerank. They travel
// in the logged request, so replay orders the block the same way without a
// reranker.

// RerankScore is a reranker's score of one memory for a message.
type RerankScore struct {
	MemoryHash string
	Score      float64
}

// RerankCandidate is a memory offered to a reranker.
type RerankCandidate struct {
	MemoryHash string
	Text       string
}

// Reranking bounds: the candidates offered are the best rerankPool(top-k)
// memories by retrieval score; a Run takes at most MaxRerankScores scores.
const (
	minRerankPool   = 20
	MaxRerankScores = 2 * MaxContextTopK
)

func (s *Session) rerankPool() int {
	return min(max(2*s.cfg.ContextTopK, minRerankPool), MaxRerankScores)
}

// checkRerank validates a Run's reranker scores.
func checkRerank(rs []RerankScore) error {
	if len(rs) > MaxRerankScores {
		return semvec.FieldError("rerank", "at most %d scores", MaxRerankScores)
	}
	for _, r := range rs {
		if !finite(r.Score) {
			return semvec.FieldError("rerank", "scores must be finite")
		}
	}
	return nil
}

// RerankCandidates returns the memories a reranker should reorder for
// message msg with vector vec: the best rerankPool() by the retrieval score
// of the context block (cosine, anchor bias, lexical evidence), best first.
// It changes nothing. The Run that follows (with the reranker's scores)
// stores the previous answer first, so its candidates can differ slightly:
// memories without a score rank after the scored ones.
func (s *Session) RerankCandidates(msg string, vec []float32) ([]RerankCandidate, error) {
	if err := checkVec("message", vec, s.cfg.Dim); err != nil {
		return nil, err
	}
	if s.TotalMemories() == 0 {
		return nil, nil
	}
	buf := getScratch()
	defer buf.put()
	x := unitInto(floatsBuf(&buf.x, len(vec)), vec)
	scores := s.scoreMemories(buf.sc[:0], quantizeInto(codesBuf(&buf.q, len(x)), x))
	s.addAnchorBias(scores)
	if len(s.queryTokens(cleanText(msg), &buf.lx)) > 0 {
		s.addLexical(scores, &buf.lx)
	}
	top := topK(scores, s.rerankPool())
	out := make([]RerankCandidate, len(top))
	for i, j := range top {
		m := s.memoryAt(j)
		out[i] = RerankCandidate{MemoryHash: m.hash, Text: m.text}
	}
	return out, nil
}

// rerankedTop is the context block's memories (canonical indices) under a
// reranker's scores: of the best rerankPool() by retrieval score, those the
// reranker scored by its score (ties: retrieval order), then the others in
// retrieval order; ContextTopK of them.
func (s *Session) rerankedTop(scores []float32, rerank []RerankScore) []int {
	pool := topK(scores, s.rerankPool())
	rs := make([]float64, len(pool))
	scored := make([]bool, len(pool))
	for i, j := range pool {
		h := s.memoryAt(j).hash
		for _, r := range rerank {
			if r.MemoryHash == h {
				rs[i], scored[i] = r.Score, true
				break
			}
		}
	}
	// Stable insertion sort: scored before unscored, scored by score.
	for i := 1; i < len(pool); i++ {
		for k := i; k > 0 && (scored[k] && !scored[k-1] || scored[k] && scored[k-1] && rs[k] > rs[k-1]); k-- {
			pool[k], pool[k-1] = pool[k-1], pool[k]
			rs[k], rs[k-1] = rs[k-1], rs[k]
			scored[k], scored[k-1] = scored[k-1], scored[k]
		}
	}
	return pool[:min(len(pool), s.cfg.ContextTopK)]
}
