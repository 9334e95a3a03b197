package http

import (
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// LimitConnections wraps ln so that at most total connections are open at
// once, and at most perAddr from one client address (the TCP peer; IPv6
// per /64, as for failed authentication); 0 leaves either unbounded. A
// connection past a limit is answered 503 {"detail": "..."} with
// Retry-After: 1 and closed, without reaching the HTTP server: a client
// holding thousands of idle keep-alive connections cannot use up the
// process's file descriptors (every later connection failed, health checks
// included), and one address cannot take every connection for itself.
func LimitConnections(ln net.Listener, total, perAddr int) net.Listener {
	if total <= 0 && perAddr <= 0 {
		return ln
	}
	return &connLimiter{Listener: ln, total: total, perAddr: perAddr,
		byAddr: map[netip.Addr]int{}, refusing: make(chan struct{}, maxRefusing)}
}

// maxRefusing bounds the refusals being written at once; past it a
// connection over a limit is closed without an answer.
const maxRefusing = 64

// refusalTimeout bounds the writing of a refusal and the wait for the
// client to read it.
const refusalTimeout = time.Second

type connLimiter struct {
	net.Listener
	total, perAddr int
	refusing       chan struct{}

	mu     sync.Mutex
	open   int
	byAddr map[netip.Addr]int // open connections by address, only those with some
}

// Accept returns the next connection within the limits; those past them
// are refused on their own goroutine meanwhile.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := failAddr(c.RemoteAddr().String())
		if why := l.admit(addr); why != "" {
			l.refuse(c, why)
			continue
		}
		return &limitedConn{Conn: c, l: l, addr: addr}, nil
	}
}

// admit counts a connection from addr, or says which limit it is past.
func (l *connLimiter) admit(addr netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.total > 0 && l.open >= l.total:
		return "Too many connections to this server (" + strconv.Itoa(l.total) + "): retry later"
	case l.perAddr > 0 && l.byAddr[addr] >= l.perAddr:
		return "Too many connections from this address (" + strconv.Itoa(l.perAddr) + "): reuse or close some"
	}
	l.open++
	l.byAddr[addr]++
	return ""
}

func (l *connLimiter) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
		delete(l.byAddr, addr)
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
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.addr) })
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
