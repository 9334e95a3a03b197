package http

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	stdhttp "net/http"
	"strings"
	"testing"
	"time"
)

// connLimitServer serves a trivial handler behind LimitConnections(total,
// perAddr) on a loopback port; it closes when the test ends.
func connLimitServer(t *testing.T, total, perAddr int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &stdhttp.Server{Handler: stdhttp.HandlerFunc(func(w stdhttp.ResponseWriter, r *stdhttp.Request) {
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(LimitConnections(ln, total, perAddr)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
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
	_ = k.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(k.c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
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

// Connections past the per-address limit, or past the total, are answered
// 503 with a JSON detail and Retry-After, and closed, while the
// connections within them keep being served; a closed connection gives its
// place back.
func TestConnectionLimits(t *testing.T) {
	addr := connLimitServer(t, 4, 2)
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
	b1, b2 := dialFrom(t, addr, "127.0.0.3"), dialFrom(t, addr, "127.0.0.3")
	for _, k := range []*keepAlive{b1, b2, a1} { // another address; the first ones still work
		if status, _, _ := k.get(t); status != 200 {
			t.Fatalf("within the limits: %d", status)
		}
	}
	status, retry, detail = dialFrom(t, addr, "127.0.0.4").get(t)
	if status != 503 || retry != "1" || !strings.Contains(detail, "to this server (4)") {
		t.Fatalf("a fifth connection: %d, Retry-After %q, %q", status, retry, detail)
	}
	a2.c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if status, _, _ := dialFrom(t, addr, "127.0.0.4").get(t); status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed connection did not give its place back")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Without limits the listener is returned as it is.
func TestNoConnectionLimits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if LimitConnections(ln, 0, 0) != ln {
		t.Fatal("a listener without limits was wrapped")
	}
}
