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
