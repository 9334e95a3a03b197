//go:build amd64 && !purego

package vecmath

// i8SIMDKernel returns the assembly int8 dot kernel and the block length its
// input must be a multiple of, or nil when the CPU lacks AVX2.
func i8SIMDKernel() (func(a, b []int8) int32, int) {
	if !hasAVX2 {
		return nil, 0
	}
	return dotI8AVX2, i8Block
}

// quantizeSIMDKernels returns the assembly max-abs and quantisation kernels
// behind QuantizeI8, with the block lengths their inputs must be multiples
// of, or nils when the CPU lacks AVX2. quant takes m = max|v| (finite,
// positive) and passes r = 127/m and quantTieSq as quantizeI8 does.
func quantizeSIMDKernels() (maxAbs func([]float32) uint32, maxBlock int, quant func([]int8, []float32, float64), quantBlock int) {
	if !hasAVX2 {
		return nil, 0, nil, 0
	}
	quant = func(dst []int8, v []float32, m float64) { quantizeI8AVX2(dst, v, m, 127/m, quantTieSq) }
	return maxAbsBitsAVX2, 8, quant, 4
}
