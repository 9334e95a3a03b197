package http

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
)

// Bodies being received reserve their declared length (the body limit when
// they declare none) until answered: past the budget, or past a quarter of
// it from one address, a request is answered 503 with a JSON detail and
// Retry-After, unread; requests without a body pass; an answered request
// gives its bytes back.
func TestBodyBudget(t *testing.T) {
	gin.SetMode(gin.TestMode)
	const limit = 1000
	b := NewBodyBudget(8*limit, limit) // 8,000 bytes, 2,000 per address
	hold := make(chan struct{})
	r := gin.New()
	r.POST("/", b.Middleware(), func(c *gin.Context) {
		_, _ = io.Copy(io.Discard, c.Request.Body)
		<-hold
		c.Status(http.StatusNoContent)
	})
	r.GET("/", b.Middleware(), func(c *gin.Context) { c.Status(http.StatusNoContent) })
	send := func(from string, n int, chunked bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("x", n)))
		req.RemoteAddr = from + ":1234"
		if chunked {
			req.ContentLength = -1
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec
	}
	var wg sync.WaitGroup
	held := func(from string, n int, chunked bool) { // a request that waits for hold, once its body is reserved
		wg.Add(1)
		go func() { defer wg.Done(); send(from, n, chunked) }()
	}
	waitHeld := func(want int64) {
		t.Helper()
		for i := 0; b.Held() != want; i++ {
			if i > 1e7 {
				t.Fatalf("held %d, want %d", b.Held(), want)
			}
			runtime.Gosched()
		}
	}
	refused := func(what string, rec *httptest.ResponseRecorder, detail string) {
		t.Helper()
		var e struct{ Detail string }
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" ||
			json.Unmarshal(rec.Body.Bytes(), &e) != nil || !strings.Contains(e.Detail, detail) {
			t.Fatalf("%s: %d %v %s", what, rec.Code, rec.Header(), rec.Body)
		}
	}
	held("192.0.2.1", 900, false)
	held("192.0.2.1", 10, true) // a chunked body reserves the limit
	waitHeld(1900)
	refused("a third body from one address", send("192.0.2.1", 200, false), "from this address")
	for i := range 6 { // two bodies of the limit from each of three more addresses
		held("192.0.2."+string(rune('2'+i/2)), limit, false)
	}
	waitHeld(7900)
	refused("a body past the budget", send("192.0.2.9", 200, false), "Too many request bodies are being received (")
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("a request without a body: %d", rec.Code)
	}
	close(hold)
	wg.Wait()
	if b.Held() != 0 {
		t.Fatalf("%d bytes still held once every request is answered", b.Held())
	}
	if rec := send("192.0.2.9", 1000, false); rec.Code != http.StatusNoContent {
		t.Fatalf("after the others were answered: %d %s", rec.Code, rec.Body)
	}
}
