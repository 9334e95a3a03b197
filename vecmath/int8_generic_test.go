//go:build !amd64 || purego

package vecmath

// i8SIMDKernel returns nil: this build has only the portable int8 kernel.
func i8SIMDKernel() (func(a, b []int8) int32, int) { return nil, 0 }

// quantizeSIMDKernels returns nils: this build has only the portable
// quantisation code.
func quantizeSIMDKernels() (maxAbs func([]float32) uint32, maxBlock int, quant func([]int8, []float32, float64), quantBlock int) {
	return nil, 0, nil, 0
}
