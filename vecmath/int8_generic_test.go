//go:build !amd64 || purego

package vecmath

// i8SIMDKernel returns nil: this build has only the portable int8 kernel.
func i8SIMDKernel() (func(a, b []int8) int32, int) { return nil, 0 }
