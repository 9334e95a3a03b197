// Package vecmath holds the pure numeric kernels of semvec-go: dot products,
// cosine similarity, norms and normalisation, blending, means, softmax, top-k
// selection, a finiteness check and a canonical checksum.
//
// Vectors are []float32. Every function is pure (no I/O, no global state) and
// the hot kernels — Dot, Norm, Cosine, Normalize, Blend, AddScaled, Mean and
// TopK with a large enough buffer — do not allocate.
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
// # Edge cases
//
// Cosine returns 0 rather than NaN for empty, mismatched, zero or non-finite
// inputs; Normalize leaves zero and non-finite vectors unchanged; TopK orders
// NaN scores last. Functions that write into a destination (Blend, AddScaled,
// Mean) panic when an input is shorter than the destination, as an index out of
// range would.
package vecmath
