//go:build !amd64 || purego

package engine

// prefetchCodes, prefetchFloats, prefetchText and prefetchMemories are cache
// hints; this build has none.
func prefetchCodes([]int8)       {}
func prefetchFloats([]float32)   {}
func prefetchMemories([]*memory) {}
func prefetchText(string)        {}
