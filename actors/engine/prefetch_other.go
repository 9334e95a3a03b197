//go:build !amd64 || purego

package engine

// prefetchCodes and prefetchMemories are cache hints; this build has none.
func prefetchCodes([]int8)          {}
func prefetchMemories(ms []*memory) {}
