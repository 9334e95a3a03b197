package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/gin-gonic/gin"
)

// mwLogBuffer is a goroutine-safe log sink.
type mwLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *mwLogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *mwLogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func mwLogger() (*slog.Logger, *mwLogBuffer) {
	buf := &mwLogBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func TestRecoveryPanicGives500JSON(t *testing.T) {
	log, buf := mwLogger()
	r := mwEngine(requestContext(0), recovery(log))
	r.GET("/boom", func(c *gin.Context) { panic("kaboom") })
	r.GET("/nilmap", func(c *gin.Context) {
		var m map[string]int
		m["x"] = 1 //lint:ignore SA5000 the runtime panic is what this route is for
	})
	r.GET("/written", func(c *gin.Context) {
		c.String(http.StatusOK, "partial")
		panic(errors.New("after write"))
	})

	for _, path := range []string{"/boom", "/nilmap"} {
		w := mwDo(r, http.MethodGet, path, "", map[string]string{"X-Request-ID": "rid-" + path[1:]})
		if w.Code != http.StatusInternalServerError {
			t.Fatalf("%s: status %d, want 500", path, w.Code)
		}
		if got := w.Body.String(); got != `{"detail":"Internal Server Error"}` {
			t.Fatalf("%s: body %s", path, got)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%s: content type %q", path, ct)
		}
	}
	logs := buf.String()
	for _, want := range []string{`"msg":"panic recovered"`, `"request_id":"rid-boom"`, `"panic":"kaboom"`, `"stack":"goroutine`, `"request_id":"rid-nilmap"`, "assignment to entry in nil map"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}

	// Response already started: status cannot change, nothing is appended.
	w := mwDo(r, http.MethodGet, "/written", "", nil)
	if w.Code != http.StatusOK || w.Body.String() != "partial" {
		t.Fatalf("written: %d %q", w.Code, w.Body.String())
	}
}

func TestRecoveryRepanicsErrAbortHandler(t *testing.T) {
	log, buf := mwLogger()
	r := mwEngine(recovery(log))
	r.GET("/abort", func(c *gin.Context) { panic(http.ErrAbortHandler) })
	defer func() {
		if rec := recover(); rec != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler re-panicked", rec)
		}
		if buf.String() != "" {
			t.Fatalf("ErrAbortHandler was logged: %s", buf.String())
		}
	}()
	mwDo(r, http.MethodGet, "/abort", "", nil)
	t.Fatal("no panic reached the caller")
}

func TestRecoveryBrokenPipe(t *testing.T) {
	log, buf := mwLogger()
	r := mwEngine(recovery(log))
	r.GET("/pipe", func(c *gin.Context) { panic(fmt.Errorf("write: %w", syscall.EPIPE)) })
	w := mwDo(r, http.MethodGet, "/pipe", "", nil)
	if w.Body.Len() != 0 {
		t.Fatalf("body written to a broken connection: %q", w.Body.String())
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &entry); err != nil {
		t.Fatalf("want one log line: %v\n%s", err, buf.String())
	}
	if entry["level"] != "WARN" || entry["stack"] != nil {
		t.Fatalf("broken pipe log: %v", entry)
	}
}
