//go:build cgosqlite || !linux || !(amd64 || arm64)

package persistence

// allocPins is a no-op where SQLite is not modernc.org/sqlite on the
// allocator sqlitemem.go works around.
type allocPins struct{}

func pinSQLiteAllocator() *allocPins { return &allocPins{} }
func (a *allocPins) release()        {}
func (a *allocPins) usable() []int   { return nil }

// pageCachePoolUsed is unknown here (for the test).
func pageCachePoolUsed() int64 { return -1 }
