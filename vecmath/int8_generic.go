//go:build !amd64 || purego

package vecmath

// dotI8 returns the int8 dot product of a and b (equal length, at most
// MaxI8Len).
func dotI8(a, b []int8) int32 { return dotI8Generic(a, b) }
