package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// One address holding idle keep-alive connections cannot take the server's
// connections (and file descriptors) for itself: past
// SEMVEC_MAX_CONNECTIONS_PER_ADDRESS its connections are answered 503 with
// a JSON detail and Retry-After, while other clients, health checks
// included, are served as before.
func TestIdleConnectionsFromOneAddressAreBounded(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/conns.db", map[string]string{"SEMVEC_MAX_CONNECTIONS_PER_ADDRESS": "3"})
	u, err := url.Parse(e.base)
	if err != nil {
		t.Fatal(err)
	}
	get := func(from string) (int, string) {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() }) // held open, idle, until the test ends
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Retry-After") + " " + string(body)
	}
	for i := range 3 {
		if status, body := get("127.0.0.7"); status != http.StatusOK {
			t.Fatalf("connection %d: %d %s", i+1, status, body)
		}
	}
	if status, body := get("127.0.0.7"); status != http.StatusServiceUnavailable || !strings.HasPrefix(body, `1 {"detail":"Too many connections from this address (3)`) {
		t.Fatalf("a fourth connection from the address: %d %s", status, body)
	}
	if r := e.do("GET", "/v1/health", nil); r.Status != http.StatusOK {
		t.Fatalf("health from another address: %d", r.Status)
	}
}

// At SEMVEC_MAX_CONNECTIONS a new client takes the place of an idle
// keep-alive connection instead of being refused: clients holding idle
// connections up to the total do not lock others out.
func TestIdleConnectionsMakeRoomAtTheTotal(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/conns.db", map[string]string{
		"SEMVEC_MAX_CONNECTIONS": "3", "SEMVEC_MAX_CONNECTIONS_PER_ADDRESS": "0"})
	u, err := url.Parse(e.base)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 { // each held open, idle, until the test ends
		c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("connection %d, with idle ones open: %d, want 200", i+1, res.StatusCode)
		}
	}
}

// Connections that send nothing, or only part of a request header, do not
// hold SEMVEC_MAX_CONNECTIONS until the header timeout: once they have been
// open a second (the grace of a new connection), a client that sends a
// request is served in the place of the one silent the longest. They made
// every later client wait 503s for up to 10 s.
func TestSilentConnectionsMakeRoomAtTheTotal(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/conns.db", map[string]string{
		"SEMVEC_MAX_CONNECTIONS": "3", "SEMVEC_MAX_CONNECTIONS_PER_ADDRESS": "0"})
	u, err := url.Parse(e.base)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // the total, each silent or stalled in its header
		c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if i%2 == 1 {
			if _, err := io.WriteString(c, "GET /v1/health HTTP/1.1\r\n"); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(time.Second) // the grace of a new connection (http/connlimit.go newConnGrace)
	for i := range 3 {
		res, err := http.Get(e.base + "/v1/health")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("request %d with the total held by silent connections: %d, want 200", i+1, res.StatusCode)
		}
	}
}
