package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	apihttp "github.com/semvec-go/semvec/http"
)

// TestServerHeaderLimits: on the real server, headers over the engine's
// limit are a JSON 431 and an over-long request-target a JSON 414; past the
// http.Server's MaxHeaderBytes backstop net/http refuses the request itself
// (the hard bound on what a request line and headers can cost, far below
// net/http's 1 MiB default).
func TestServerHeaderLimits(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/semvec.db", nil)
	if got := e.srv.HTTPServer().MaxHeaderBytes; got != apihttp.HeaderBackstopBytes || got >= http.DefaultMaxHeaderBytes {
		t.Errorf("MaxHeaderBytes %d, want %d (below net/http's default %d)", got, apihttp.HeaderBackstopBytes, http.DefaultMaxHeaderBytes)
	}
	addr := strings.TrimPrefix(e.base, "http://")
	pad := func(n int) string {
		var b strings.Builder
		for i := 0; b.Len() < n; i++ {
			b.WriteString("\r\nX-Pad-" + strconv.Itoa(i) + ": " + strings.Repeat("p", 1000))
		}
		return b.String()
	}
	exchange := func(head string) (*http.Response, []byte) {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, head+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	jsonDetail := func(what string, resp *http.Response, b []byte) {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || m["detail"] == nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: not a JSON detail: %q %q", what, resp.Header.Get("Content-Type"), b)
		}
	}

	resp, b := exchange("GET /v1/cluster HTTP/1.1\r\nHost: h" + pad(apihttp.MaxHeaderBytes+1))
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("headers over the limit: %d %s", resp.StatusCode, b)
	}
	jsonDetail("431", resp, b)
	resp, b = exchange("GET /v1/cluster?q=" + strings.Repeat("q", apihttp.MaxURIBytes) + " HTTP/1.1\r\nHost: h")
	if resp.StatusCode != http.StatusRequestURITooLong {
		t.Errorf("URI over the limit: %d %s", resp.StatusCode, b)
	}
	jsonDetail("414", resp, b)
	resp, b = exchange("GET /v1/cluster HTTP/1.1\r\nHost: h" + pad(apihttp.HeaderBackstopBytes+8192))
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("headers past the backstop: %d %s", resp.StatusCode, b)
	}
	// "OPTIONS *" is answered by the engine as any unknown route (net/http
	// answered it an empty 200 of its own).
	resp, b = exchange("OPTIONS * HTTP/1.1\r\nHost: h")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("OPTIONS *: %d %s", resp.StatusCode, b)
	}
	jsonDetail("OPTIONS *", resp, b)
}
