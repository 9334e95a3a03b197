//go:build amd64 && !purego

package vecmath

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

func simdEnabled() bool { return hasAVX }

func uintptrOf(v []float32) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(v))) }

// TestAVXMatchesGeneric runs the assembly kernels directly against the
// portable ones on random data, so the comparison is made even if the
// dispatch were wrong. The tolerance is zero: the kernels perform the same
// float32 operations in the same order.
func TestAVXMatchesGeneric(t *testing.T) {
	if !hasAVX {
		t.Skip("CPU or OS without AVX")
	}
	r := rand.New(rand.NewPCG(21, 22))
	for nb := blockLen; nb <= 1024+blockLen; nb += blockLen {
		for _, off := range []int{0, 4, 16} {
			a, b := unaligned(randVec(r, nb), off), unaligned(randVec(r, nb), 32-off-4)
			if g, s := dotGeneric(a, b), dotAVX(a, b); !same(g, s) {
				t.Fatalf("nb=%d off=%d: dotAVX = %v, dotGeneric = %v", nb, off, s, g)
			}
			gd, ga, gb := cosGeneric(a, b)
			sd, sa, sb := cosAVX(a, b)
			if !same(gd, sd) || !same(ga, sa) || !same(gb, sb) {
				t.Fatalf("nb=%d off=%d: cosAVX = %v %v %v, cosGeneric = %v %v %v", nb, off, sd, sa, sb, gd, ga, gb)
			}
		}
	}
}
