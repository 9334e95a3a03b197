package http

import (
	"bufio"
	"bytes"
	"container/list"
	"encoding/json"
	"errors"
	"io"
	"net"
	stdhttp "net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/semvec-go/semvec/actors/actortest"
)

// connLimitServer serves a trivial handler behind LimitConnections(total,
// perAddr) on a loopback port; it closes when the test ends. It returns the
// address and the limiter.
func connLimitServer(t *testing.T, total, perAddr int) (string, *connLimiter) {
	addr, l, _ := connLimitServerHolding(t, total, perAddr)
	return addr, l
}

// connLimitServerHolding is connLimitServer whose handler answers GET /hold
// only once release is called.
func connLimitServerHolding(t *testing.T, total, perAddr int) (addr string, l *connLimiter, release func()) {
	return connLimitServerGrace(t, total, perAddr, 0)
}

// connLimitServerGrace is connLimitServerHolding that spares new
// connections for grace (newConnGrace in production; 0 makes them idle at
// once, for the order of eviction to be tested alone).
func connLimitServerGrace(t *testing.T, total, perAddr int, grace time.Duration) (addr string, l *connLimiter, release func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan struct{})
	srv := &stdhttp.Server{Handler: stdhttp.HandlerFunc(func(w stdhttp.ResponseWriter, r *stdhttp.Request) {
		if r.URL.Path == "/hold" {
			<-held
		}
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}), ReadHeaderTimeout: 5 * time.Second}
	limited := LimitConnections(srv, ln, total, perAddr)
	if l, ok := limited.(*connLimiter); ok {
		l.grace = grace
	}
	go func() { _ = srv.Serve(limited) }()
	var once sync.Once
	release = func() { once.Do(func() { close(held) }) }
	t.Cleanup(func() { release(); _ = srv.Close() })
	return ln.Addr().String(), limited.(*connLimiter), release
}

// keepAlive is one client connection from source address from (a loopback
// address of its own) on which requests are sent one after another.
type keepAlive struct {
	c net.Conn
	r *bufio.Reader
}

func dialFrom(t *testing.T, addr, from string) *keepAlive {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAlive{c: c, r: bufio.NewReader(c)}
}

// get sends GET / and returns the answer's status, its Retry-After and its
// body's detail ("" when none).
func (k *keepAlive) get(t *testing.T) (int, string, string) {
	t.Helper()
	k.send(t, "/")
	return k.answer(t)
}

// send sends GET path.
func (k *keepAlive) send(t *testing.T, path string) {
	t.Helper()
	_ = k.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(k.c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
}

// answer reads the answer to what send sent, as get returns it.
func (k *keepAlive) answer(t *testing.T) (int, string, string) {
	t.Helper()
	res, err := stdhttp.ReadResponse(k.r, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct{ Detail string }
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("a body that is not JSON: %q", raw)
	}
	return res.StatusCode, res.Header.Get("Retry-After"), body.Detail
}

// Connections past the per-address limit are answered 503 with a JSON
// detail and Retry-After, and closed, while the connections within it keep
// being served; a closed connection gives its place back.
func TestConnectionLimits(t *testing.T) {
	addr, _ := connLimitServer(t, 0, 2)
	a1, a2 := dialFrom(t, addr, "127.0.0.2"), dialFrom(t, addr, "127.0.0.2")
	for _, k := range []*keepAlive{a1, a2} {
		if status, _, _ := k.get(t); status != 200 {
			t.Fatalf("within the limits: %d", status)
		}
	}
	status, retry, detail := dialFrom(t, addr, "127.0.0.2").get(t)
	if status != 503 || retry != "1" || !strings.Contains(detail, "from this address (2)") {
		t.Fatalf("a third connection from one address: %d, Retry-After %q, %q", status, retry, detail)
	}
	b1 := dialFrom(t, addr, "127.0.0.3")
	for _, k := range []*keepAlive{b1, a1} { // another address; the first ones still work
		if status, _, _ := k.get(t); status != 200 {
			t.Fatalf("within the limits: %d", status)
		}
	}
	a2.c.Close()
	actortest.Eventually(t, "a closed connection gives its place back", func() bool {
		status, _, _ := dialFrom(t, addr, "127.0.0.2").get(t)
		return status == 200
	})
}

// At the total, the connection idle the longest is closed to make room for
// a new one; idle is between two requests or before the first has arrived
// (a connection that has sent nothing); connections busy with a request
// are never closed, and when every connection is, the new one is refused.
func TestConnectionTotalClosesTheLongestIdle(t *testing.T) {
	addr, l, release := connLimitServerHolding(t, 4, 0)
	// last waits until the server counts k the most recently idle, so that
	// the order of the idle connections is known.
	last := func(k *keepAlive) {
		t.Helper()
		actortest.Eventually(t, "the connection idle", func() bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			var back *limitedConn
			for _, ls := range []*list.List{&l.idle, &l.fresh} {
				if b := ls.Back(); b != nil && (back == nil || b.Value.(*limitedConn).since.After(back.since)) {
					back = b.Value.(*limitedConn)
				}
			}
			return back != nil && back.RemoteAddr().String() == k.c.LocalAddr().String()
		})
	}
	// use has k served a request, then waits until the server counts k
	// idle again (it does after writing the answer, which the client may
	// read first).
	use := func(k *keepAlive, what string) {
		t.Helper()
		if status, _, _ := k.get(t); status != 200 {
			t.Fatalf("%s: %d, want 200", what, status)
		}
		last(k)
	}
	a1, a2, b1 := dialFrom(t, addr, "127.0.0.2"), dialFrom(t, addr, "127.0.0.2"), dialFrom(t, addr, "127.0.0.3")
	for _, k := range []*keepAlive{a1, a2, b1} {
		use(k, "within the limits")
	}
	silent := dialFrom(t, addr, "127.0.0.3") // connected, no request yet: idle since it opened
	last(silent)
	use(a1, "within the limits") // a1 is now the most recently idle, a2 the longest
	c1 := dialFrom(t, addr, "127.0.0.4")
	use(c1, "a fifth connection, with idle ones open")
	if !closedByServer(a2) {
		t.Fatal("the connection idle the longest was not closed")
	}
	for _, k := range []*keepAlive{b1, a1, c1} {
		use(k, "a connection idle for less long")
	}
	// silent, b1, a1, c1 idle (in that order): three more connections take
	// the places of the first three.
	var fresh []*keepAlive
	for range 3 {
		k := dialFrom(t, addr, "127.0.0.5")
		last(k)
		fresh = append(fresh, k)
	}
	for _, k := range []*keepAlive{silent, b1, a1} {
		if !closedByServer(k) {
			t.Fatal("an idle connection, or one that sent nothing, was kept while new ones came")
		}
	}
	// c1 and the fresh ones are sent a request each that the server holds:
	// with none idle, a further connection is refused; theirs are answered.
	busy := append([]*keepAlive{c1}, fresh...)
	for _, k := range busy {
		k.send(t, "/hold")
	}
	actortest.Eventually(t, "every connection busy", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.idle.Len() == 0 && l.fresh.Len() == 0
	})
	status, retry, detail := dialFrom(t, addr, "127.0.0.6").get(t)
	if status != 503 || retry != "1" || !strings.Contains(detail, "to this server (4)") {
		t.Fatalf("a connection with none idle: %d, Retry-After %q, %q", status, retry, detail)
	}
	release()
	for _, k := range busy {
		if status, _, _ := k.answer(t); status != 200 {
			t.Fatalf("a held request: %d", status)
		}
	}
}

// A new connection is not closed at the total before it has been open
// newConnGrace: net/http may not have read the request its client sent
// whole, and that client would get no answer (a reset, which clients do
// not retry on a new connection) where the newcomer gets a 503. Closing
// every connection that had not sent a whole header left a burst of
// clients at the total mostly reset, none answered 503.
func TestANewConnectionIsSparedForItsGrace(t *testing.T) {
	addr, l, _ := connLimitServerGrace(t, 1, 0, 300*time.Millisecond)
	silent := dialFrom(t, addr, "127.0.0.2")
	actortest.Eventually(t, "the connection counted", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.fresh.Len() == 1
	})
	status, retry, detail := dialFrom(t, addr, "127.0.0.3").get(t)
	if status != 503 || retry != "1" || !strings.Contains(detail, "to this server (1)") {
		t.Fatalf("a connection at the total with a new one open: %d, Retry-After %q, %q", status, retry, detail)
	}
	time.Sleep(300 * time.Millisecond)
	if status, _, _ := dialFrom(t, addr, "127.0.0.3").get(t); status != 200 {
		t.Fatalf("a connection at the total with one silent past the grace: %d, want 200", status)
	}
	if !closedByServer(silent) {
		t.Fatal("the connection silent past its grace was kept")
	}
}

// A burst of clients at the total, each sending its request at once, is
// answered: 200, or 503 with Retry-After, never a connection closed with
// its request unanswered.
func TestABurstAtTheTotalIsAnswered(t *testing.T) {
	addr, _, _ := connLimitServerGrace(t, 8, 0, newConnGrace)
	var mu sync.Mutex
	var unanswered int
	var example error
	var wg sync.WaitGroup
	for range 40 { // within maxRefusing
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err == nil {
				var res *stdhttp.Response
				if res, err = stdhttp.ReadResponse(bufio.NewReader(c), nil); err == nil {
					res.Body.Close()
					return
				}
			}
			mu.Lock()
			unanswered, example = unanswered+1, err
			mu.Unlock()
		})
	}
	wg.Wait()
	if unanswered > 0 {
		t.Fatalf("%d clients of a burst of 40 at the total left without an answer (%v)", unanswered, example)
	}
}

// closedByServer says whether the server has closed k (a read ends at once).
func closedByServer(k *keepAlive) bool {
	_ = k.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := k.r.ReadByte()
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// Without limits the listener is returned as it is.
func TestNoConnectionLimits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := &stdhttp.Server{}
	if LimitConnections(srv, ln, 0, 0) != ln || srv.ConnState != nil {
		t.Fatal("a listener without limits was wrapped")
	}
}

// At the total, a connection whose answer has stalled (its client sends
// requests and does not read the answers, so a write to it stays blocked)
// is closed to make room, as the write timeout would have closed it later;
// a connection busy reading a request's body is not. Before, a client
// without a token pipelining requests for /openapi.json and never reading
// held a busy connection until the write timeout (50 s in production), and
// a few addresses doing so had every other client refused.
func TestAStalledAnswerIsClosedAtTheTotal(t *testing.T) {
	s := newEdgeServer(t, 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &stdhttp.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, MaxHeaderBytes: HeaderBackstopBytes}
	// A small send buffer: the answers stall once a few are written, not
	// once megabytes are (slow under the race detector).
	l := LimitConnections(srv, sendBuffers{ln, 16 << 10}, 2, 0).(*connLimiter)
	l.grace = 100 * time.Millisecond
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().String()

	// busy is reading a request's body (half sent); reader sends many
	// requests for a large answer and reads none.
	busy := dialFrom(t, addr, "127.0.0.2")
	body := `{"message":"hello"}`
	_ = busy.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(busy.c, "POST /v1/run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer "+s.tok+
		"\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body[:5]); err != nil {
		t.Fatal(err)
	}
	reader := dialFrom(t, addr, "127.0.0.3")
	_ = reader.c.(*net.TCPConn).SetReadBuffer(4096)
	_ = reader.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(reader.c, strings.Repeat("GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n", 300)); err != nil {
		t.Fatal(err)
	}
	actortest.Eventually(t, "the answers to the reader stalled, the other connection busy", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.idle.Len() == 0 && l.fresh.Len() == 0 && l.longestStalled() != nil
	})

	newcomer := dialFrom(t, addr, "127.0.0.4")
	newcomer.send(t, "/v1/health")
	if status, _, _ := newcomer.answer(t); status != 200 {
		t.Fatalf("a connection at the total with a stalled answer open: %d, want 200", status)
	}
	// The reader's connection was closed: reading what the server had sent
	// ends (EOF, or a reset for the requests it did not read), never waits.
	_ = reader.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.Copy(io.Discard, reader.c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the connection whose answers stalled was kept")
	}
	// The connection busy with a body was kept, and is answered once the
	// body is in.
	if _, err := io.WriteString(busy.c, body[5:]); err != nil {
		t.Fatalf("the connection reading a body was closed: %v", err)
	}
	if status, _, _ := busy.answer(t); status != 200 {
		t.Fatalf("the request whose body was being read: %d", status)
	}
}

// sendBuffers sets a send buffer of size bytes on every connection it
// accepts, so that an answer larger than it is written at the pace its
// client reads (the kernel's own grows up to megabytes).
type sendBuffers struct {
	net.Listener
	size int
}

func (l sendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(l.size)
	}
	return c, err
}

// A client that reads a large answer steadily, if slowly, is not taken
// for one whose answer stalled: the answer goes out in one Write to the
// connection (gin writes a JSON body at once), which lasts as long as the
// client takes to read it all, and the whole write counted as blocked.
// Before, a client taking more than a second over a large answer (a
// session's export over a slow or distant link) was closed mid-answer at
// the total.
func TestASlowButReadingClientIsNotStalled(t *testing.T) {
	const size = 4 << 20
	big := bytes.Repeat([]byte("x"), size)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &stdhttp.Server{Handler: stdhttp.HandlerFunc(func(w stdhttp.ResponseWriter, r *stdhttp.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, _ = w.Write(big) // one Write, as gin's c.JSON does
	}), ReadHeaderTimeout: 10 * time.Second, WriteTimeout: time.Minute}
	l := LimitConnections(srv, sendBuffers{ln, 128 << 10}, 100, 0).(*connLimiter)
	l.grace = 300 * time.Millisecond
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(128 << 10)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Read at a steady pace: the answer takes well over the grace, its
	// client never stops reading for long.
	br := bufio.NewReader(c)
	res, err := stdhttp.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16<<10)
	got, stalledSeen := 0, false
	start := time.Now()
	for got < size {
		n, err := io.ReadFull(res.Body, buf)
		got += n
		if err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
		l.mu.Lock()
		if l.longestStalled() != nil {
			stalledSeen = true
		}
		l.mu.Unlock()
	}
	if got < size {
		t.Fatalf("read %d of %d bytes", got, size)
	}
	if took := time.Since(start); took < 2*l.grace {
		t.Logf("the answer took %v only: too fast to tell", took)
	}
	if stalledSeen {
		t.Error("a connection whose client kept reading its answer was taken as stalled")
	}
}
