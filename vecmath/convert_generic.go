//go:build !amd64 || purego

package vecmath

func scaleI8(dst []float32, c []int8, s float64) { scaleI8Generic(dst, c, s) }

func mixI8(dst []float32, a []int8, sa, wa float64, b []int8, sb, wb float64) {
	mixI8Generic(dst, a, sa, wa, b, sb, wb)
}

func axpyF32(dst, x []float32, w float64, y []float32) { axpyF32Generic(dst, x, w, y) }

func scaleF32(dst, v []float32, s float64) { scaleF32Generic(dst, v, s) }
