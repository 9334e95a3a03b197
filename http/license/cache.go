package license

import (
	"container/list"
	"crypto/sha256"
	"sync"
)

// lruCache is a bounded, thread-safe least-recently-used map from a token's
// SHA-256 to its verified claims. Only the digest is kept, never the token.
type lruCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recently used; values are *lruEntry
	items map[[sha256.Size]byte]*list.Element
}

type lruEntry struct {
	key    [sha256.Size]byte
	claims Claims
}

func newLRUCache(max int) *lruCache {
	return &lruCache{
		max:   max,
		order: list.New(),
		items: make(map[[sha256.Size]byte]*list.Element, min(max, 1024)),
	}
}

// get returns the cached claims and marks the entry as recently used. The
// Products slice is shared; callers must clone it before handing it out.
func (c *lruCache) get(key [sha256.Size]byte) (Claims, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return Claims{}, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*lruEntry).claims, true
}

// put stores claims under key, evicting the least recently used entry when
// the cache is full.
func (c *lruCache) put(key [sha256.Size]byte, claims Claims) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		el.Value.(*lruEntry).claims = claims
		c.order.MoveToFront(el)
		return
	}
	for c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*lruEntry).key)
	}
	c.items[key] = c.order.PushFront(&lruEntry{key: key, claims: claims})
}

// remove drops key if present.
func (c *lruCache) remove(key [sha256.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.Remove(el)
		delete(c.items, key)
	}
}

// len reports the number of cached entries.
func (c *lruCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
