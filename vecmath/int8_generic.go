//go:build !amd64 || purego

package vecmath

// dotI8 returns the int8 dot product of a and b (equal length, at most
// MaxI8Len).
func dotI8(a, b []int8) int32 { return dotI8Generic(a, b) }

// maxAbsBits returns the largest bit pattern of |v[i]| (see
// maxAbsBitsGeneric).
func maxAbsBits(v []float32) uint32 { return maxAbsBitsGeneric(v) }

// quantizeI8 quantises v into dst with the scale m = max|v| (see
// quantizeI8Generic).
func quantizeI8(dst []int8, v []float32, m float64) { quantizeI8Generic(dst, v, m) }
