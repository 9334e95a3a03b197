// Package vecmath holds the pure numeric kernels of semvec-go: dot products,
// cosine similarity, norms and normalisation, blending, means, softmax, top-k
// selection, a finiteness check, a canonical checksum, and int8 quantisation
// with exact int8 dot products and cosines.
//
// Vectors are []float32 ([]int8 for the *I8 functions). Every function is
// pure (no I/O, no global state) and the hot kernels — Dot, Norm, Cosine,
// Normalize, Blend, AddScaled, Mean, TopK with a large enough buffer and the
// int8 functions — do not allocate.
//
// # Determinism
//
// Replay of a session must be bit-identical, so the kernels fix their order of
// floating-point operations:
//
//   - Dot and Cosine split a vector into blocks of 32 elements, keep 32
//     independent float32 partial sums (element i goes to sum i mod 32), fold
//     the sums with one fixed tree and then add the remaining tail elements in
//     order. On amd64 CPUs with AVX an assembly kernel does the blocks eight
//     lanes at a time; elsewhere (and with the purego build tag) a portable Go
//     kernel performs exactly the same operations, so both paths return the
//     same bits (the tests check this on many lengths and alignments).
//   - Products are never fused into FMA instructions: the code rounds each
//     product explicitly, so architectures whose compiler would fuse
//     (arm64, ppc64, s390x, GOAMD64=v3) still produce the same results.
//   - Cosine computes a·b, |a|² and |b|² in one pass with the same partial sums
//     as Dot, so Cosine(v, v) is exactly 1 for any non-zero finite v and
//     Cosine(a, b) == Cosine(b, a) bit for bit.
//
// Inputs whose squared norm would underflow or overflow float32 fall back to a
// float64 computation, so Norm, Normalize and Cosine stay accurate for tiny
// and huge (but finite) vectors.
//
// # Int8 vectors
//
// QuantizeI8 maps a float32 vector to int8 by scaling its largest magnitude
// to ±127 and rounding half away from zero; the rounding is exact with
// respect to the real quotient, so every platform produces the same bytes
// (on capable amd64 CPUs AVX2 kernels do the same float64 arithmetic as the
// portable Go, four elements at a time). DotI8 is an exact int32 dot product
// (inputs up to MaxI8Len elements), done by an AVX2 kernel on capable amd64
// CPUs and by portable Go elsewhere (or with the purego build tag) with
// identical results. NormI8 and CosineI8 build on it; CosineI8 takes the
// norms as arguments so that callers can cache them. For 384-d unit vectors
// the int8 cosine is within about 0.002 of the float32 one.
//
// # Edge cases
//
// Cosine returns 0 rather than NaN for empty, mismatched, zero or non-finite
// inputs; Normalize leaves zero and non-finite vectors unchanged; TopK orders
// NaN scores last. Functions that write into a destination (Blend, AddScaled,
// Mean) panic when an input is shorter than the destination, as an index out of
// range would.
package vecmath
