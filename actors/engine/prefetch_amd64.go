//go:build amd64 && !purego

package engine

import "unsafe"

// prefetchCodes asks the CPU to start loading the cache lines of b. A turn
// of a session that has not run for a while finds its memory keys, tens of
// KiB, outside the caches; loading them ahead turns one wait per cache line
// into one overlapped stream. Hints only: results never depend on them.
func prefetchCodes(b []int8) {
	if len(b) > 0 {
		prefetchRange(unsafe.Pointer(unsafe.SliceData(b)), len(b))
	}
}

// prefetchFloats is prefetchCodes for a float32 vector (the state).
func prefetchFloats(v []float32) {
	if len(v) > 0 {
		prefetchRange(unsafe.Pointer(unsafe.SliceData(v)), 4*len(v))
	}
}

// prefetchText is prefetchCodes for a memory's text.
func prefetchText(t string) {
	if len(t) > 0 {
		prefetchRange(unsafe.Pointer(unsafe.StringData(t)), len(t))
	}
}

// prefetchRange issues PREFETCHT0 for every 64-byte line of [p, p+n).
//
//go:noescape
func prefetchRange(p unsafe.Pointer, n int)

// prefetchMemories issues PREFETCHT0 for the first two cache lines of every
// memory in ms (the fields retention and scoring read).
//
//go:noescape
func prefetchMemories(ms []*memory)
