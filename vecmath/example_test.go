package vecmath_test

import (
	"fmt"
	"math"

	"github.com/semvec-go/semvec/vecmath"
)

func ExampleCosine() {
	a := []float32{1, 0, 0}
	b := []float32{1, 1, 0}
	fmt.Printf("%.4f\n", vecmath.Cosine(a, b))
	fmt.Println(vecmath.Cosine(a, []float32{0, 0, 0})) // zero vector
	fmt.Println(vecmath.Cosine(a, []float32{1, 0}))    // length mismatch
	// Output:
	// 0.7071
	// 0
	// 0
}

func ExampleNormalize() {
	v := []float32{3, 4}
	n := vecmath.Normalize(v)
	fmt.Println(n, v)
	// Output: 5 [0.6 0.8]
}

func ExampleBlend() {
	state := []float32{1, 0}
	input := []float32{0, 1}
	// An EMA step: keep 75 % of the state, take 25 % of the input, in place.
	vecmath.Blend(state, state, input, 0.25)
	fmt.Println(state)
	// Output: [0.75 0.25]
}

func ExampleMean() {
	dst := make([]float32, 2)
	fmt.Println(vecmath.Mean(dst, []float32{1, 2}, []float32{3, 6}))
	// Output: [2 4]
}

func ExampleSoftmax() {
	w := vecmath.Softmax(make([]float64, 3), []float64{1, 1, 2}, 1)
	fmt.Printf("%.3f\n", w)
	// Output: [0.212 0.212 0.576]
}

func ExampleTopK() {
	scores := []float32{0.2, 0.9, 0.5, 0.9, -1}
	buf := make([]vecmath.Scored, 0, 3) // reused: no allocation
	for _, s := range vecmath.TopK(scores, 3, buf) {
		fmt.Println(s.Index, s.Score)
	}
	// Output:
	// 1 0.9
	// 3 0.9
	// 2 0.5
}

func ExampleChecksum() {
	state := []float32{0.6, 0.8}
	memories := []float32{1, 0}
	fmt.Println(vecmath.Checksum(state, memories)[:16])
	// Output: 18cacf263dcb1dd1
}

func ExampleFinite() {
	fmt.Println(vecmath.Finite([]float32{1, 2}), vecmath.Finite([]float32{1, float32(math.Inf(1))}))
	// Output: true false
}
