//go:build !cgosqlite && linux && (amd64 || arm64)

package persistence

import (
	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// allocPins works around a cost of the SQLite build in use
// (modernc.org/sqlite, SQLite translated to Go): its malloc,
// modernc.org/memory, hands out blocks of up to 16 KiB from 64 KiB pages
// it maps per power-of-two size class, and unmaps a page as soon as its
// last block is freed. SQLite's B-tree keeps no block of a page's size
// alive between statements, so each page split or merge of a log insert
// or delete (its page-sized scratch buffer), and each statement journal,
// mapped and unmapped a page: two system calls per allocation, a third of
// the CPU of a log commit with its checkpoints (BenchmarkLogLifecycle's
// profile: libc.Xmalloc and libc.Xfree 35 %).
//
// A Store on SQLite holds one small block in each class from 1 KiB to
// 16 KiB while it is open, so each class keeps a mapped page and those
// allocations reuse it. This changes no result, only where SQLite's
// scratch memory comes from (TestAllocPins), and costs at most 5 pages
// of address space per open Store.
type allocPins struct {
	tls *libc.TLS
	p   []uintptr
}

func pinSQLiteAllocator() *allocPins {
	a := &allocPins{tls: libc.NewTLS()}
	// One request per class (slots of 1, 2, 4, 8 and 16 KiB), each well
	// inside its class with or without SQLite's 8-byte size prefix.
	for _, n := range []int32{800, 1600, 3200, 6400, 12800} {
		if p := sqlite3.Xsqlite3_malloc(a.tls, n); p != 0 {
			a.p = append(a.p, p)
		}
	}
	return a
}

// release frees the blocks; the Store is closed.
func (a *allocPins) release() {
	for _, p := range a.p {
		sqlite3.Xsqlite3_free(a.tls, p)
	}
	a.p = nil
	a.tls.Close()
}

// usable is the usable size of each pinned block (for the test).
func (a *allocPins) usable() []int {
	out := make([]int, len(a.p))
	for i, p := range a.p {
		out[i] = int(libc.Xmalloc_usable_size(a.tls, p))
	}
	return out
}
