package vecmath

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

var (
	nan  = float32(math.NaN())
	inf  = float32(math.Inf(1))
	ninf = float32(math.Inf(-1))
)

// randVec returns n standard-normal float32 values from a fixed seed.
func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// seq returns a vector of n elements, v[i] = f(i).
func seq(n int, f func(i int) float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = f(i)
	}
	return v
}

// same reports whether x and y are equal, treating NaN as equal to NaN.
func same(x, y float32) bool { return x == y || (x != x && y != y) }

func TestDot(t *testing.T) {
	ones := seq(100, func(int) float32 { return 1 })
	tests := []struct {
		name string
		a, b []float32
		want float32
	}{
		{"both nil", nil, nil, 0},
		{"one empty", []float32{1, 2}, nil, 0},
		{"simple", []float32{1, 2, 3}, []float32{4, 5, 6}, 32},
		{"mismatched uses common length", []float32{1, 2, 3}, []float32{4, 5}, 14},
		{"zero vector", make([]float32, 64), ones[:64], 0},
		{"blocked plus tail", ones, ones, 100},
		{"orthogonal", []float32{1, 0}, []float32{0, 1}, 0},
		{"NaN propagates", []float32{1, nan}, []float32{1, 1}, nan},
		{"Inf propagates", []float32{inf, 1}, []float32{1, 1}, inf},
		{"Inf times zero is NaN", []float32{inf}, []float32{0}, nan},
		{"overflow is Inf", []float32{3e38, 3e38}, []float32{3e38, 3e38}, inf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Dot(tt.a, tt.b); !same(got, tt.want) {
				t.Errorf("Dot = %v, want %v", got, tt.want)
			}
			if got := Dot(tt.b, tt.a); !same(got, tt.want) {
				t.Errorf("Dot (swapped) = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNorm(t *testing.T) {
	tests := []struct {
		name string
		v    []float32
		want float32
	}{
		{"empty", nil, 0},
		{"zero", make([]float32, 384), 0},
		{"3-4-5", []float32{3, 4}, 5},
		{"negative", []float32{-3, -4}, 5},
		{"NaN", []float32{1, nan}, nan},
		{"Inf", []float32{1, ninf}, inf},
		{"huge but finite", []float32{3e30, 4e30}, 5e30},
		{"tiny", []float32{3e-30, 4e-30}, 5e-30},
		{"subnormal", []float32{3e-44, 4e-44}, float32(math.Hypot(float64(float32(3e-44)), float64(float32(4e-44))))},
		{"beyond float32", []float32{3e38, 3e38}, inf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Norm(tt.v)
			if !same(got, tt.want) && !(math.Abs(float64(got-tt.want)) <= 1e-6*math.Abs(float64(tt.want))) {
				t.Errorf("Norm = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCosine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	v := randVec(r, 384)
	neg := seq(384, func(i int) float32 { return -v[i] })
	scaled := seq(384, func(i int) float32 { return 1e-25 * v[i] })
	tests := []struct {
		name string
		a, b []float32
		want float32
		tol  float64
	}{
		{"empty", nil, nil, 0, 0},
		{"empty non-nil", []float32{}, []float32{}, 0, 0},
		{"mismatched lengths", []float32{1, 2}, []float32{1, 2, 3}, 0, 0},
		{"zero a", []float32{0, 0}, []float32{1, 2}, 0, 0},
		{"zero b", []float32{1, 2}, []float32{0, 0}, 0, 0},
		{"both zero", make([]float32, 64), make([]float32, 64), 0, 0},
		{"NaN", []float32{nan, 1}, []float32{1, 1}, 0, 0},
		{"Inf", []float32{inf, 1}, []float32{1, 1}, 0, 0},
		{"Inf both", []float32{inf, 1}, []float32{inf, 1}, 0, 0},
		{"identical", v, v, 1, 0},
		{"opposite", v, neg, -1, 0},
		{"orthogonal", []float32{1, 0}, []float32{0, 5}, 0, 0},
		{"45 degrees", []float32{1, 0}, []float32{1, 1}, float32(math.Sqrt2 / 2), 1e-7},
		{"scale invariant (tiny)", v, scaled, 1, 1e-6},
		{"huge but finite", []float32{3e38, 1e38}, []float32{3e38, 1e38}, 1, 1e-7},
		{"subnormal", []float32{1e-45, 0}, []float32{1e-45, 1e-45}, float32(math.Sqrt2 / 2), 1e-7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, got := range []float32{Cosine(tt.a, tt.b), Cosine(tt.b, tt.a)} {
				if math.Abs(float64(got-tt.want)) > tt.tol {
					t.Errorf("Cosine = %v, want %v ± %g", got, tt.want, tt.tol)
				}
			}
		})
	}
}

// TestCosineProperties checks symmetry, range, cos(v,v) == 1 and agreement
// with a float64 reference on many random vectors and lengths.
func TestCosineProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 1; n <= 1030; n += 1 + n/16 {
		a, b := randVec(r, n), randVec(r, n)
		c := Cosine(a, b)
		if c != Cosine(b, a) {
			t.Fatalf("n=%d: Cosine not symmetric: %v vs %v", n, c, Cosine(b, a))
		}
		if c < -1 || c > 1 {
			t.Fatalf("n=%d: Cosine = %v out of range", n, c)
		}
		if self := Cosine(a, a); self != 1 {
			t.Fatalf("n=%d: Cosine(a, a) = %v, want exactly 1", n, self)
		}
		if want := cosine64(a, b); math.Abs(float64(c)-want) > 1e-6 {
			t.Fatalf("n=%d: Cosine = %v, float64 reference %v", n, c, want)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name     string
		v        []float32
		wantNorm float32
		want     []float32 // nil: expect unit length
	}{
		{"empty", []float32{}, 0, []float32{}},
		{"zero unchanged", []float32{0, 0, 0}, 0, []float32{0, 0, 0}},
		{"NaN unchanged", []float32{1, nan}, nan, []float32{1, nan}},
		{"Inf unchanged", []float32{1, inf}, inf, []float32{1, inf}},
		{"3-4-5", []float32{3, 4}, 5, []float32{0.6, 0.8}},
		{"already unit", []float32{0, 1, 0}, 1, []float32{0, 1, 0}},
		{"tiny", []float32{3e-30, 4e-30}, 5e-30, []float32{0.6, 0.8}},
		{"subnormal", []float32{1e-45}, 1e-45, []float32{1}},
		{"huge", []float32{3e37, 4e37}, 5e37, []float32{0.6, 0.8}},
		{"beyond float32", []float32{3e38, 3e38}, inf, nil},
		{"384-d", seq(384, func(i int) float32 { return float32(i%7) - 3 }), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := slices.Clone(tt.v)
			n := Normalize(v)
			if tt.wantNorm != 0 && !same(n, tt.wantNorm) && math.Abs(float64(n-tt.wantNorm)) > 1e-6*float64(tt.wantNorm) {
				t.Errorf("Normalize returned %v, want %v", n, tt.wantNorm)
			}
			if tt.want == nil {
				if got := math.Sqrt(sumSquares64(v)); math.Abs(got-1) > 1e-6 {
					t.Errorf("norm after Normalize = %v, want 1", got)
				}
				return
			}
			for i := range v {
				if !same(v[i], tt.want[i]) && math.Abs(float64(v[i]-tt.want[i])) > 1e-6 {
					t.Fatalf("v = %v, want %v", v, tt.want)
				}
			}
		})
	}
}

func TestBlendAddScaledMean(t *testing.T) {
	a := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	b := []float32{9, 8, 7, 6, 5, 4, 3, 2, 1}
	dst := make([]float32, len(a))
	Blend(dst, a, b, 0.25)
	for i := range dst {
		if want := 0.75*a[i] + 0.25*b[i]; math.Abs(float64(dst[i]-want)) > 1e-6 {
			t.Fatalf("Blend[%d] = %v, want %v", i, dst[i], want)
		}
	}

	// dst aliasing a.
	x := slices.Clone(a)
	if got := Blend(x, x, b, 1); !slices.Equal(got, b) {
		t.Errorf("Blend(x, x, b, 1) = %v, want %v", got, b)
	}
	// Longer inputs are fine; only len(dst) elements are used.
	short := make([]float32, 2)
	Blend(short, a, b, 0)
	if !slices.Equal(short, a[:2]) {
		t.Errorf("Blend into short dst = %v", short)
	}

	y := slices.Clone(a)
	AddScaled(y, b, -1)
	for i := range y {
		if want := a[i] - b[i]; y[i] != want {
			t.Fatalf("AddScaled[%d] = %v, want %v", i, y[i], want)
		}
	}

	m := Mean(make([]float32, len(a)), a, b)
	for i := range m {
		if m[i] != 5 {
			t.Fatalf("Mean = %v, want all 5", m)
		}
	}
	if got := Mean([]float32{7, 7}); !slices.Equal(got, []float32{0, 0}) {
		t.Errorf("Mean of nothing = %v, want zeros", got)
	}
	if got := Mean(nil, a); len(got) != 0 {
		t.Errorf("Mean into nil dst = %v", got)
	}
}

func TestShortInputsPanic(t *testing.T) {
	long, short := make([]float32, 4), make([]float32, 3, 8) // spare capacity must not hide the bug
	tests := map[string]func(){
		"Blend a":   func() { Blend(long, short, long, 0.5) },
		"Blend b":   func() { Blend(long, long, short, 0.5) },
		"AddScaled": func() { AddScaled(long, short, 1) },
		"Mean":      func() { Mean(long, long, short) },
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic for an input shorter than dst")
				}
			}()
			f()
		})
	}
}

func TestSoftmax(t *testing.T) {
	inf64 := math.Inf(1)
	tests := []struct {
		name string
		x    []float64
		temp float64
		want []float64
	}{
		{"empty", nil, 1, []float64{}},
		{"uniform", []float64{2, 2}, 1, []float64{0.5, 0.5}},
		{"large values stable", []float64{1000, 1000 + math.Log(3)}, 1, []float64{0.25, 0.75}},
		{"temperature", []float64{0, math.Log(3)}, 0.5, []float64{0.1, 0.9}},
		{"non-positive temperature is 1", []float64{0, math.Log(3)}, 0, []float64{0.25, 0.75}},
		{"NaN temperature is 1", []float64{0, math.Log(3)}, math.NaN(), []float64{0.25, 0.75}},
		{"NaN gets zero", []float64{math.NaN(), 1, 1}, 1, []float64{0, 0.5, 0.5}},
		{"-Inf gets zero", []float64{-inf64, 1}, 1, []float64{0, 1}},
		{"+Inf share", []float64{inf64, 1, inf64}, 1, []float64{0.5, 0, 0.5}},
		{"all -Inf uniform", []float64{-inf64, -inf64}, 1, []float64{0.5, 0.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Softmax(make([]float64, len(tt.x)+2), tt.x, tt.temp)
			if len(got) != len(tt.want) {
				t.Fatalf("len = %d, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if math.Abs(got[i]-tt.want[i]) > 1e-12 {
					t.Fatalf("Softmax = %v, want %v", got, tt.want)
				}
			}
		})
	}
	// In place.
	x := []float64{1, 2, 3}
	Softmax(x, x, 1)
	if s := x[0] + x[1] + x[2]; math.Abs(s-1) > 1e-12 || !(x[0] < x[1] && x[1] < x[2]) {
		t.Errorf("in-place Softmax = %v", x)
	}
}

func TestTopK(t *testing.T) {
	tests := []struct {
		name   string
		scores []float32
		k      int
		want   []Scored
	}{
		{"empty", nil, 3, []Scored{}},
		{"k zero", []float32{1, 2}, 0, []Scored{}},
		{"k negative", []float32{1, 2}, -1, []Scored{}},
		{"k one", []float32{0.1, 0.9, 0.5}, 1, []Scored{{1, 0.9}}},
		{"k above len", []float32{0.1, 0.9, 0.5}, 10, []Scored{{1, 0.9}, {2, 0.5}, {0, 0.1}}},
		{"ties lower index first", []float32{0.5, 0.7, 0.5, 0.7, 0.5}, 4, []Scored{{1, 0.7}, {3, 0.7}, {0, 0.5}, {2, 0.5}}},
		{"NaN last", []float32{nan, -1, nan, ninf, 2}, 5, []Scored{{4, 2}, {1, -1}, {3, ninf}, {0, nan}, {2, nan}}},
		{"NaN excluded when k small", []float32{nan, -1, inf}, 2, []Scored{{2, inf}, {1, -1}}},
		{"negative zero ties with zero", []float32{0, float32(math.Copysign(0, -1))}, 2, []Scored{{0, 0}, {1, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, buf := range [][]Scored{nil, make([]Scored, 0, 64)} {
				got := TopK(tt.scores, tt.k, buf)
				if !slices.EqualFunc(got, tt.want, func(x, y Scored) bool { return x.Index == y.Index && same(x.Score, y.Score) }) {
					t.Errorf("TopK(%v, %d) = %v, want %v", tt.scores, tt.k, got, tt.want)
				}
			}
		})
	}
}

// TestTopKMatchesStableSort compares TopK with a stable sort on random data
// with many ties and NaNs, for every k.
func TestTopKMatchesStableSort(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 200 {
		n := r.IntN(60)
		scores := make([]float32, n)
		for i := range scores {
			switch r.IntN(10) {
			case 0:
				scores[i] = nan
			case 1:
				scores[i] = ninf
			default:
				scores[i] = float32(r.IntN(8)) // many ties
			}
		}
		all := make([]Scored, n)
		for i, s := range scores {
			all[i] = Scored{i, s}
		}
		slices.SortStableFunc(all, func(x, y Scored) int {
			if ranksBefore(x, y) {
				return -1
			}
			if ranksBefore(y, x) {
				return 1
			}
			return 0
		})
		for k := 0; k <= n+1; k++ {
			got := TopK(scores, k, nil)
			want := all[:min(k, n)]
			if !slices.EqualFunc(got, want, func(x, y Scored) bool { return x.Index == y.Index && same(x.Score, y.Score) }) {
				t.Fatalf("trial %d, k=%d: TopK = %v, want %v", trial, k, got, want)
			}
		}
	}
}

func TestTopKReusesBuffer(t *testing.T) {
	scores := []float32{3, 1, 2}
	buf := make([]Scored, 1, 8)
	got := TopK(scores, 2, buf)
	if &got[0] != &buf[:1][0] {
		t.Error("TopK did not reuse a large enough buffer")
	}
	small := make([]Scored, 0, 1)
	got = TopK(scores, 3, small)
	if len(got) != 3 || got[0].Index != 0 {
		t.Errorf("TopK with small buffer = %v", got)
	}
	if allocs := testing.AllocsPerRun(100, func() { TopK(scores, 2, buf) }); allocs != 0 {
		t.Errorf("TopK with a large enough buffer allocates %v times", allocs)
	}
}

func TestFinite(t *testing.T) {
	tests := []struct {
		v    []float32
		want bool
	}{
		{nil, true},
		{[]float32{0, -0, 1, -1, math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32}, true},
		{[]float32{1, nan}, false},
		{[]float32{inf}, false},
		{[]float32{0, ninf}, false},
	}
	for _, tt := range tests {
		if got := Finite(tt.v); got != tt.want {
			t.Errorf("Finite(%v) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

// TestChecksumGolden pins the byte format: the expected values were computed
// with the first implementation, which hashed each value separately.
func TestChecksumGolden(t *testing.T) {
	long := seq(1000, func(i int) float32 { return float32(i)*0.25 - 7 })
	tests := []struct {
		name string
		vs   [][]float32
		want string
	}{
		{"no vectors", nil, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"one empty vector", [][]float32{{}}, "df3f619804a92fdb4057192dc43dd748ea778adc52bc498ce80524c014b81119"},
		{"special values", [][]float32{{1, -2.5, 0}, {inf, float32(math.Copysign(0, -1))}}, "021144bdc0c2c5ab9e87e4fbd7f627537cc64c2cfca298979583c5f65a2f91ce"},
		{"longer than one chunk", [][]float32{long, {3}}, "509233ed6ff8c6515a50a06c8d002fc44af04f11eb4889194d810dd4e365e658"},
	}
	for _, tt := range tests {
		if got := Checksum(tt.vs...); got != tt.want {
			t.Errorf("%s: Checksum = %s, want %s", tt.name, got, tt.want)
		}
	}
	if Checksum([]float32{1, 2}) == Checksum([]float32{1}, []float32{2}) {
		t.Error("Checksum does not separate vectors")
	}
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	a, b := randVec(r, 384), randVec(r, 384)
	dst := make([]float32, 384)
	scores := randVec(r, 100)
	buf := make([]Scored, 0, 10)
	for name, f := range map[string]func(){
		"Dot":       func() { Dot(a, b) },
		"Norm":      func() { Norm(a) },
		"Cosine":    func() { Cosine(a, b) },
		"Normalize": func() { Normalize(dst) },
		"Blend":     func() { Blend(dst, a, b, 0.5) },
		"AddScaled": func() { AddScaled(dst, a, 0.5) },
		"Mean":      func() { Mean(dst, a, b) },
		"TopK":      func() { TopK(scores, 10, buf) },
		"Finite":    func() { Finite(a) },
	} {
		if allocs := testing.AllocsPerRun(100, f); allocs != 0 {
			t.Errorf("%s allocates %v times per call", name, allocs)
		}
	}
}
