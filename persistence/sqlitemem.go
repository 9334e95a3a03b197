//go:build !cgosqlite && linux && (amd64 || arm64)

package persistence

import (
	"encoding/binary"

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

// pageCachePool gives SQLite's page cache a pool of its own
// (SQLITE_CONFIG_PAGECACHE) instead of one malloc per cached page. The
// allocator pins above keep a mapped page in each size class, but the page
// cache fills every slot of the 8 KiB class (a 4 KiB page with its header),
// so the pinned page is full and each B-tree balance's page-sized scratch
// buffer (sqlite3PageMalloc) mapped a fresh 64 KiB page and unmapped it
// again: mmap and munmap were ~12 % of the server's CPU during durable
// /v1/run at 64 connections. With the pool, cached pages and those scratch
// buffers take slots of the pool, and nothing is mapped per allocation
// (BenchmarkLogLifecycle: 71, 74 → 62, 66 cpu-µs/op).
//
// SQLite takes this setting only before it is first initialised, and for
// the whole process; init runs before any Store can open a database. When
// it cannot be set (another package opened SQLite first), SQLite allocates
// as before. The pool is shared by every SQLite database of the process:
// past its slots SQLite falls back to malloc, and once fewer than ten are
// free its page caches stop growing and recycle their own pages (pcache1's
// memory pressure), which keeps results the same but makes reads more
// frequent. In-memory databases hold their pages in the pool until they
// are closed, so several large ones (tests, programs embedding the store)
// can reach that point; a database file whose page size is not 4 KiB does
// not use the pool at all.
//
// pageCachePoolSlots covers the default cache (2,000 KiB, ~470 pages) of a
// store's writer and of its WAL checkpointer, with room for the scratch
// buffers: 1,280 slots of 4,368 bytes, 5.3 MiB of address space, resident
// only as far as the caches have grown.
const pageCachePoolSlots = 1280

func init() { configurePageCachePool() }

// configurePageCachePool reports whether SQLite took the pool.
func configurePageCachePool() bool {
	tls := libc.NewTLS()
	defer tls.Close()
	// The extra bytes SQLite keeps with each page (its header).
	out := libc.Xcalloc(tls, 1, 8)
	if out == 0 {
		return false
	}
	defer libc.Xfree(tls, out)
	va := libc.NewVaList(out)
	rc := sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_PCACHE_HDRSZ, va)
	libc.Xfree(tls, va)
	hdr := int32(binary.NativeEndian.Uint32(libc.GoBytes(out, 4)))
	if rc != sqlite3.SQLITE_OK || hdr <= 0 {
		return false
	}
	slot := (sqlite3.SQLITE_DEFAULT_PAGE_SIZE + hdr + 7) &^ 7
	buf := libc.Xmalloc(tls, uint64(slot)*pageCachePoolSlots)
	if buf == 0 {
		return false
	}
	va = libc.NewVaList(buf, slot, int32(pageCachePoolSlots))
	rc = sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_PAGECACHE, va)
	libc.Xfree(tls, va)
	if rc != sqlite3.SQLITE_OK {
		libc.Xfree(tls, buf)
		return false
	}
	return true // buf belongs to SQLite for the life of the process
}

// pageCachePoolUsed is how many of the pool's slots are in use (for the
// test): SQLITE_STATUS_PAGECACHE_USED.
func pageCachePoolUsed() int64 {
	tls := libc.NewTLS()
	defer tls.Close()
	p := libc.Xmalloc(tls, 16)
	defer libc.Xfree(tls, p)
	if sqlite3.Xsqlite3_status64(tls, sqlite3.SQLITE_STATUS_PAGECACHE_USED, p, p+8, 0) != sqlite3.SQLITE_OK {
		return -1
	}
	return int64(binary.NativeEndian.Uint64(libc.GoBytes(p, 8)))
}
