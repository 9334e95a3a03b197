package vecmath

// Portable element-wise kernels. Each element takes one rounded multiply (and
// for axpy and blend one add of rounded products), so the SIMD versions in
// dot_amd64.s produce the same bits.

// scaleGeneric multiplies every element of v by s.
func scaleGeneric(v []float32, s float32) {
	for i := range v {
		v[i] *= s
	}
}

// axpyGeneric adds w*b[i] to dst[i]; len(b) >= len(dst).
func axpyGeneric(dst, b []float32, w float32) {
	b = b[:len(dst)]
	for i := range dst {
		dst[i] += float32(w * b[i])
	}
}

// blendGeneric writes u*a[i] + w*b[i] into dst[i]; len(a), len(b) >= len(dst).
func blendGeneric(dst, a, b []float32, u, w float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = float32(u*a[i]) + float32(w*b[i])
	}
}
