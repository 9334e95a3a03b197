//go:build !amd64 || purego

package vecmath

// dotBlocks returns the blocked dot product of a and b (equal length, a
// positive multiple of blockLen).
func dotBlocks(a, b []float32) float32 { return dotGeneric(a, b) }

// cosBlocks returns the blocked a·b, a·a and b·b of a and b (equal length, a
// positive multiple of blockLen).
func cosBlocks(a, b []float32) (dot, aa, bb float32) { return cosGeneric(a, b) }

// scaleVec multiplies every element of v by s.
func scaleVec(v []float32, s float32) { scaleGeneric(v, s) }

// axpy adds w*b[i] to dst[i]; len(b) >= len(dst).
func axpy(dst, b []float32, w float32) { axpyGeneric(dst, b, w) }

// blend writes u*a[i] + w*b[i] into dst[i]; len(a), len(b) >= len(dst).
func blend(dst, a, b []float32, u, w float32) { blendGeneric(dst, a, b, u, w) }
