package http

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec"
)

type testKey string

func TestRequestCtxDeadlineAndValues(t *testing.T) {
	parent := context.WithValue(context.Background(), testKey("k"), "v")
	before := time.Now()
	rc := newRequestCtx(parent, "id-1", time.Minute)
	after := time.Now()
	dl, ok := rc.Deadline()
	if !ok || dl.Before(before.Add(time.Minute)) || dl.After(after.Add(time.Minute)) {
		t.Fatalf("deadline %v %v", dl, ok)
	}
	if rc.start.Before(before) || rc.start.After(after) || !dl.Equal(rc.start.Add(time.Minute)) {
		t.Fatalf("start %v, deadline %v: the deadline is counted from the start", rc.start, dl)
	}
	if rc.Err() != nil {
		t.Fatalf("err %v", rc.Err())
	}
	if rc.Value(testKey("k")) != "v" || rc.Value(requestCtxKey{}) != rc {
		t.Fatal("values")
	}
	if rc.timed.Load() != nil {
		t.Fatal("Deadline, Err and Value must not arm a timer")
	}
	rc.release()
	if !errors.Is(rc.Err(), context.Canceled) {
		t.Fatalf("after release: %v", rc.Err())
	}
	select {
	case <-rc.Done():
	default:
		t.Fatal("Done after release must be closed")
	}
}

// Err reports the deadline without a timer; Done closes at it.
func TestRequestCtxExpires(t *testing.T) {
	rc := newRequestCtx(context.Background(), "", 30*time.Millisecond)
	defer rc.release()
	time.Sleep(40 * time.Millisecond)
	if !errors.Is(rc.Err(), context.DeadlineExceeded) {
		t.Fatalf("err %v", rc.Err())
	}
	rc2 := newRequestCtx(context.Background(), "", 30*time.Millisecond)
	defer rc2.release()
	select {
	case <-rc2.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done did not close at the deadline")
	}
	if !errors.Is(rc2.Err(), context.DeadlineExceeded) {
		t.Fatalf("err %v", rc2.Err())
	}
}

// A parent that ends first (the client went away) ends the request; an
// earlier parent deadline wins; without a timeout there is no deadline of
// its own.
func TestRequestCtxParent(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	rc := newRequestCtx(parent, "", time.Minute)
	defer rc.release()
	done := rc.Done()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("parent cancel did not reach Done")
	}
	if !errors.Is(rc.Err(), context.Canceled) {
		t.Fatalf("err %v", rc.Err())
	}

	parent2, cancel2 := context.WithCancel(context.Background())
	rc2 := newRequestCtx(parent2, "", time.Minute)
	cancel2()
	if !errors.Is(rc2.Err(), context.Canceled) || rc2.timed.Load() != nil {
		t.Fatalf("err %v without a timer", rc2.Err())
	}
	rc2.release()

	soon := time.Now().Add(time.Second)
	p3, cancel3 := context.WithDeadline(context.Background(), soon)
	defer cancel3()
	if dl, _ := newRequestCtx(p3, "", time.Hour).Deadline(); !dl.Equal(soon) {
		t.Fatalf("deadline %v, want the parent's %v", dl, soon)
	}
	if _, ok := newRequestCtx(context.Background(), "", 0).Deadline(); ok {
		t.Fatal("no timeout, no deadline")
	}
}

// Done, Err and release may race (a database call waiting while the
// handler returns).
func TestRequestCtxConcurrent(t *testing.T) {
	for range 50 {
		rc := newRequestCtx(context.Background(), "", time.Minute)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = rc.Err()
				<-rc.Done()
			}()
		}
		rc.release()
		wg.Wait()
		if rc.Err() == nil {
			t.Fatal("released context without error")
		}
	}
}

// Behind the middleware a handler sees the deadline, the request id and
// the caller through the gin context.
func TestRequestContextMiddleware(t *testing.T) {
	r := mwEngine(requestContext(time.Minute), authMiddleware(nil, true))
	var got struct {
		deadline bool
		id       string
		caller   semvec.Caller
		rc       *requestCtx
	}
	var starts [2]time.Time
	r.GET("/x", func(c *gin.Context) {
		_, got.deadline = c.Deadline()
		got.id, got.caller, got.rc = RequestIDFrom(c), CallerFrom(c), requestCtxOf(c)
		starts[0] = requestStart(c)
		time.Sleep(time.Millisecond)
		starts[1] = requestStart(c)
		c.Status(http.StatusNoContent)
	})
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set(headerRequestID, "req-42")
	before := time.Now()
	r.ServeHTTP(w, req)
	if w.Code != http.StatusNoContent || !got.deadline || got.id != "req-42" || w.Header().Get("X-Request-ID") != "req-42" ||
		got.caller.Subject != semvec.AnonymousSubject {
		t.Fatalf("status %d, %+v", w.Code, got)
	}
	// The request's time is read once, when the middleware ran.
	if !starts[0].Equal(got.rc.start) || !starts[1].Equal(starts[0]) || starts[0].Before(before) {
		t.Fatalf("requestStart %v then %v, middleware start %v", starts[0], starts[1], got.rc.start)
	}
	if !errors.Is(got.rc.Err(), context.Canceled) {
		t.Fatalf("the request context must end with the request: %v", got.rc.Err())
	}
}

// Without the request-context middleware requestStart is the current time.
func TestRequestStartWithoutMiddleware(t *testing.T) {
	r := mwEngine()
	var got time.Time
	r.GET("/x", func(c *gin.Context) {
		got = requestStart(c)
		c.Status(http.StatusNoContent)
	})
	before := time.Now()
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/x", nil))
	if w.Code != http.StatusNoContent || got.Before(before) || got.After(time.Now()) {
		t.Fatalf("status %d, start %v (request at %v)", w.Code, got, before)
	}
}

// Over the wire the request id is read and echoed whatever the client's
// spelling of the header name.
func TestRequestIDHeaderSpelling(t *testing.T) {
	r := mwEngine(requestContext(time.Minute))
	r.GET("/x", func(c *gin.Context) { c.String(http.StatusOK, RequestIDFrom(c)) })
	srv := httptest.NewServer(r)
	defer srv.Close()
	for _, name := range []string{"x-request-id", "X-REQUEST-ID", "X-Request-ID", "X-Request-Id"} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header[name] = []string{"rid-" + name} // sent as spelt
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if want := "rid-" + name; string(body) != want || res.Header.Get("X-Request-ID") != want {
			t.Fatalf("%s: handler saw %q, response header %q, want %q", name, body, res.Header.Get("X-Request-ID"), want)
		}
	}
}
