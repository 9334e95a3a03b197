package http

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/semvec-go/semvec/actors"
	"github.com/semvec-go/semvec/actors/actortest"
	"github.com/semvec-go/semvec/persistence"
)

// silentStore is a session store whose activation of one session never
// returns (until the test ends): that session's actor never comes up, so
// nobody answers for it.
type silentStore struct {
	*persistence.Store
	id      string
	release chan struct{}
}

func (s *silentStore) ActivateSession(ctx context.Context, owner, id string) (persistence.SessionRecord, error) {
	if id == s.id {
		select {
		case <-s.release:
		case <-ctx.Done():
			return persistence.SessionRecord{}, ctx.Err()
		}
	}
	return s.Store.ActivateSession(ctx, owner, id)
}

// An actor that never answers is a 504 with a JSON detail once the ask
// timeout passes, and with the Retry-After of a 503, for a read as for a
// change (whose outcome is unknown: the client may retry, or read first);
// other sessions keep answering meanwhile.
func TestActorThatNeverAnswersIs504(t *testing.T) {
	silent := &silentStore{id: "0123456789abcdef0123456789abcdef", release: make(chan struct{})}
	s := newLyServerWith(t, actortest.Options{
		AskTimeout: 300 * time.Millisecond,
		Sessions:   func(st *persistence.Store) actors.SessionStore { silent.Store = st; return silent },
	})
	t.Cleanup(func() { close(silent.release) }) // runs before the stack stops
	var out map[string]any
	if got := s.do("GET", "/v1/metrics/"+silent.id, s.tokA, nil, &out); got != http.StatusGatewayTimeout {
		t.Fatalf("metrics of a session whose actor never answers: %d %v, want 504", got, out)
	}
	if d, _ := out["detail"].(string); !strings.Contains(d, "timed out") {
		t.Fatalf("504 detail = %q", d)
	}
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/metrics/" + silent.id, nil},
		{"POST", "/v1/store", map[string]any{"session_id": silent.id, "response": "noted"}},
	} {
		rec := s.send(r.method, r.path, s.tokA, r.body)
		if rec.Code != http.StatusGatewayTimeout || rec.Header().Get("Retry-After") != retryAfterBusy {
			t.Fatalf("%s %s to a session whose actor never answers: %d, Retry-After %q; want 504 with Retry-After %s (as a 503)",
				r.method, r.path, rec.Code, rec.Header().Get("Retry-After"), retryAfterBusy)
		}
	}
	other := s.session(s.tokA)
	s.must(200, "GET", "/v1/metrics/"+other, s.tokA, nil)
}
