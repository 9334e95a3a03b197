package http

import (
	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec/vecmath/embed"
)

// bufferEmbedder is an embedder that writes into the caller's buffer (the
// built-in *embed.Hashing): EmbedTo reuses dst when cap(dst) >= Dim() and
// returns it resliced, or a new slice. It cannot fail.
type bufferEmbedder interface {
	EmbedTo(dst []float32, text string) []float32
}

// pooledVecs are the one or two vectors of a /v1/run or /v1/store request.
type pooledVecs struct {
	v [2][]float32
}

// embedPooled embeds a (and b when both) into pooled buffers when e supports
// EmbedTo; ok is false otherwise, and the caller takes the embedTexts path.
//
// The vectors go into an actor request. Call release only once the actor
// has answered that request successfully: the session actor keeps no
// reference to them after replying. After a timeout or an error the actor may
// still read them later, so they must simply be dropped.
func (p *fastPools) embedPooled(e embed.Embedder, a, b string, both bool) (v *pooledVecs, ok bool) {
	be, ok := e.(bufferEmbedder)
	if !ok {
		return nil, false
	}
	if v, _ = p.vecs.Get().(*pooledVecs); v == nil {
		v = new(pooledVecs)
	}
	v.v[0] = be.EmbedTo(v.v[0], a)
	if both {
		v.v[1] = be.EmbedTo(v.v[1], b)
	}
	return v, true
}

// release returns v to the pool; nil (vectors that were not pooled) is a
// no-op.
func (p *fastPools) release(v *pooledVecs) {
	if v != nil {
		p.vecs.Put(v)
	}
}

// embedForAsk embeds a, and b unless it is empty, for an actor request:
// into pooled buffers when the embedder supports it (pooled is then
// non-nil: hand it to s.fast.release once the actor has answered, and never
// after an error or timeout), otherwise through embedTexts, which writes the
// error response itself (ok false).
func (s *Server) embedForAsk(c *gin.Context, a, b string) (va, vb []float32, pooled *pooledVecs, ok bool) {
	if p, ok := s.fast.embedPooled(s.d.Embedder, a, b, b != ""); ok {
		if b != "" {
			vb = p.v[1]
		}
		return p.v[0], vb, p, true
	}
	texts := []string{a}
	if b != "" {
		texts = append(texts, b)
	}
	vecs, ok := s.embedTexts(c, texts...)
	if !ok {
		return nil, nil, nil, false
	}
	if b != "" {
		vb = vecs[1]
	}
	return vecs[0], vb, nil, true
}
