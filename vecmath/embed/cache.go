package embed

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"sync"
)

// cacheKey identifies an embedding: SHA-256 over the length-prefixed model
// name and the text, so that no (model, text) pair can collide with another.
type cacheKey [sha256.Size]byte

func makeCacheKey(model, text string) cacheKey {
	h := sha256.New()
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(model)))
	h.Write(n[:])
	h.Write([]byte(model))
	h.Write([]byte(text))
	var k cacheKey
	h.Sum(k[:0])
	return k
}

// lruCache is a bounded, mutex-protected least-recently-used map from
// cacheKey to vector. It owns the vectors it stores and hands out copies.
type lruCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *lruEntry; front is the most recently used
	items map[cacheKey]*list.Element
}

type lruEntry struct {
	key cacheKey
	vec []float32
}

func newLRUCache(max int) *lruCache {
	return &lruCache{max: max, order: list.New(), items: make(map[cacheKey]*list.Element)}
}

// get returns a copy of the vector stored under k.
func (c *lruCache) get(k cacheKey) ([]float32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	v := e.Value.(*lruEntry).vec
	return append(make([]float32, 0, len(v)), v...), true
}

// add stores a copy of vec under k, evicting the least recently used entry
// when the cache is full.
func (c *lruCache) add(k cacheKey, vec []float32) {
	v := append(make([]float32, 0, len(vec)), vec...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		e.Value.(*lruEntry).vec = v
		c.order.MoveToFront(e)
		return
	}
	c.items[k] = c.order.PushFront(&lruEntry{key: k, vec: v})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*lruEntry).key)
	}
}

// len returns the number of cached vectors.
func (c *lruCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
