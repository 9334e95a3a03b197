package http

import (
	"container/list"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// LimitConnections wraps ln, which srv will serve, so that at most total
// connections are open at once, and at most perAddr from one client address
// (the TCP peer; IPv6 per /64, as for failed authentication); 0 leaves
// either unbounded. A client holding thousands of idle keep-alive
// connections cannot use up the process's file descriptors (every later
// connection failed, health checks included), and one address cannot take
// every connection for itself.
//
// A connection past the per-address limit is answered 503 {"detail": "..."}
// with Retry-After: 1 and closed, without reaching the HTTP server. At the
// total, the connection idle the longest is closed to make room, as the
// server's idle or header timeout would have closed it later: idle is a
// keep-alive connection between two requests, or a new one whose first
// request's header has not arrived whole (both tracked through
// srv.ConnState, which this sets; net/http counts a connection active once
// it has read a request's header). A few addresses holding idle, silent or
// slowly sending connections cannot lock every other client out. A new
// connection counts as idle only once it has been open newConnGrace: until
// net/http's goroutine for it has run, a request its client has sent whole
// is not read yet, and closing it would leave that client without an
// answer (a reset, which clients do not retry on a new connection) where a
// burst of clients at the total should get a 503 (as net/http's own
// closing of idle connections spares new ones for 5 s, golang.org/issue/22682).
// A connection whose answer has not moved for newConnGrace either (a step
// of writeStep bytes of a write to it blocked that long: its client does
// not read, with the socket's buffers full) is closed next, the one stalled the longest first, as the write
// timeout would have closed it later: otherwise a client that pipelines
// requests for large answers (/openapi.json needs no token) and never reads
// them held a busy connection until the write timeout (50 s), and a few
// addresses doing so locked every other client out. Only when every
// connection is busy with a request (being read past its header, or
// answered at the pace its client reads) or new is the new connection
// refused like one past the per-address limit.
func LimitConnections(srv *http.Server, ln net.Listener, total, perAddr int) net.Listener {
	if total <= 0 && perAddr <= 0 {
		return ln
	}
	l := &connLimiter{Listener: ln, total: total, perAddr: perAddr, grace: newConnGrace,
		byAddr: map[netip.Addr]int{}, refusing: make(chan struct{}, maxRefusing)}
	srv.ConnState = l.track
	return l
}

// maxRefusing bounds the refusals being written at once; past it a
// connection over a limit is closed without an answer.
const maxRefusing = 64

// newConnGrace is how long a new connection that has not sent a whole
// request header is spared at the total (see LimitConnections).
const newConnGrace = time.Second

// refusalTimeout bounds the writing of a refusal and the wait for the
// client to read it.
const refusalTimeout = time.Second

type connLimiter struct {
	net.Listener
	total, perAddr int
	grace          time.Duration // newConnGrace
	refusing       chan struct{}

	mu     sync.Mutex
	open   int
	byAddr map[netip.Addr]int // open connections by address, only those with some
	idle   list.List          // of *limitedConn waiting for their next request, the longest idle first
	fresh  list.List          // of *limitedConn waiting for their first request, the oldest first
	all    list.List          // of every open *limitedConn, searched for a stalled answer at the total
}

// Accept returns the next connection within the limits; those past them
// are refused on their own goroutine meanwhile.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: c, l: l, addr: failAddr(c.RemoteAddr().String())}
		why, idle := l.admit(lc)
		if why != "" {
			l.refuse(c, why)
			continue
		}
		if idle != nil {
			idle.Close() // gives its place back
		}
		return lc, nil
	}
}

// admit counts c, or says which limit it is past. At the total it takes
// the connection idle (or stalled) the longest, for the caller to close, in
// its place (for a moment one connection over the total).
func (l *connLimiter) admit(c *limitedConn) (string, *limitedConn) {
	addr := c.addr
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perAddr > 0 && l.byAddr[addr] >= l.perAddr {
		return "Too many connections from this address (" + strconv.Itoa(l.perAddr) + "): reuse or close some", nil
	}
	var idle *limitedConn
	if l.total > 0 && l.open >= l.total {
		idle = l.longestIdle()
		if idle == nil {
			return "Too many connections to this server (" + strconv.Itoa(l.total) + "): retry later", nil
		}
		if idle.waiting != nil {
			idle.list.Remove(idle.waiting)
			idle.waiting, idle.list = nil, nil
		}
		idle.evicted = true
	}
	l.open++
	l.byAddr[addr]++
	c.member = l.all.PushBack(c)
	return "", idle
}

// longestIdle is the connection idle the longest that may be closed: the
// front of l.idle or of l.fresh, whichever waits since earlier, the latter
// only once open l.grace. Call with l.mu held.
func (l *connLimiter) longestIdle() *limitedConn {
	var idle *limitedConn
	if f := l.idle.Front(); f != nil {
		idle = f.Value.(*limitedConn)
	}
	if f := l.fresh.Front(); f != nil {
		if c := f.Value.(*limitedConn); time.Since(c.since) >= l.grace && (idle == nil || c.since.Before(idle.since)) {
			idle = c
		}
	}
	if idle == nil {
		idle = l.longestStalled()
	}
	return idle
}

// longestStalled is the connection whose current write has been blocked
// the longest, at least l.grace, or nil. Call with l.mu held. It looks at
// every open connection: only a new connection at the total with none idle
// asks.
func (l *connLimiter) longestStalled() *limitedConn {
	var stalled *limitedConn
	var since int64
	limit := time.Now().Add(-l.grace).UnixNano()
	for e := l.all.Front(); e != nil; e = e.Next() {
		c := e.Value.(*limitedConn)
		if w := c.writing.Load(); w != 0 && w <= limit && !c.evicted && (stalled == nil || w < since) {
			stalled, since = c, w
		}
	}
	return stalled
}

// track keeps the lists of idle connections: a connection joins it when it
// opens and when it waits for its next request, and leaves it when a
// request's header has been read or it closes.
func (l *connLimiter) track(c net.Conn, state http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if lc.waiting != nil {
		lc.list.Remove(lc.waiting)
		lc.waiting, lc.list = nil, nil
	}
	if lc.closed || lc.evicted {
		return
	}
	switch state {
	case http.StateNew:
		lc.list = &l.fresh
	case http.StateIdle:
		lc.list = &l.idle
	default:
		return
	}
	lc.since = time.Now()
	lc.waiting = lc.list.PushBack(lc)
}

// release gives c's place back.
func (l *connLimiter) release(c *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c.closed = true
	if c.waiting != nil {
		c.list.Remove(c.waiting)
		c.waiting, c.list = nil, nil
	}
	l.all.Remove(c.member)
	l.open--
	if l.byAddr[c.addr]--; l.byAddr[c.addr] <= 0 {
		delete(l.byAddr, c.addr)
	}
}

// refuse answers c 503 with detail why and closes it, on a goroutine of
// its own, unless maxRefusing refusals are under way already (then c is
// closed at once).
func (l *connLimiter) refuse(c net.Conn, why string) {
	select {
	case l.refusing <- struct{}{}:
	default:
		c.Close()
		return
	}
	go func() {
		defer func() { <-l.refusing }()
		defer c.Close()
		body := `{"detail":"` + why + `"}`
		_ = c.SetDeadline(time.Now().Add(refusalTimeout))
		if _, err := io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: "+
			strconv.Itoa(len(body))+"\r\n\r\n"+body); err != nil {
			return
		}
		// Closed with its request unread, the connection would be reset,
		// and the client might lose the answer: end the writing side and
		// drain what it sends until it closes (or the deadline).
		if tc, ok := c.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 1<<16))
	}()
}

// limitedConn gives its place back when closed (once).
type limitedConn struct {
	net.Conn
	l    *connLimiter
	addr netip.Addr
	once sync.Once
	// writing is when the step of the write under way began (UnixNano;
	// see writeStep), 0 between writes: net/http writes answers only, so
	// a step blocked for long is an answer its client does not read.
	writing atomic.Int64

	// under l.mu:
	waiting *list.Element // in list while the connection waits for its first or next request
	list    *list.List    // l.fresh (first request) or l.idle (next), while waiting
	since   time.Time     // when it joined list
	closed  bool
	member  *list.Element // in l.all while open
	evicted bool          // taken by admit, to be closed
}

// writeStep is how much of a write limitedConn hands the connection at a
// time, so that writing tells when its answer last moved: net/http hands
// a large answer (gin writes a JSON body at once) to the connection in one
// Write, which lasts as long as its client takes to read it all, and a
// client reading a large answer steadily but slowly (an export over a
// distant link) would look stalled after newConnGrace. A step blocked
// that long means its client took less than writeStep in that time.
const writeStep = 32 << 10

func (c *limitedConn) Write(p []byte) (n int, err error) {
	for {
		step := p
		if len(step) > writeStep {
			step = step[:writeStep]
		}
		c.writing.Store(time.Now().UnixNano())
		m, err := c.Conn.Write(step)
		n += m
		p = p[m:]
		if err != nil || len(p) == 0 {
			c.writing.Store(0)
			return n, err
		}
	}
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}

// CloseWrite half-closes the connection when it can, as net/http does
// before closing a connection whose request it did not read whole.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
