package vecmath

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
)

// Checksum is the canonical SHA-256 over a sequence of vectors: each vector
// is written as its length (uint32 little-endian) followed by its elements as
// IEEE-754 float32 little-endian (the exact bits, so -0 and NaN payloads
// count). The result is hex-encoded (64 lower-case characters).
func Checksum(vs ...[]float32) string {
	h := sha256.New()
	var buf [1024]byte
	for _, v := range vs {
		binary.LittleEndian.PutUint32(buf[:4], uint32(len(v)))
		h.Write(buf[:4])
		for len(v) > 0 {
			chunk := v[:min(len(v), len(buf)/4)]
			for i, x := range chunk {
				binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
			}
			h.Write(buf[:4*len(chunk)])
			v = v[len(chunk):]
		}
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}
