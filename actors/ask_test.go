package actors

import (
	"context"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/semvec-go/semvec"
	pb "github.com/semvec-go/semvec/proto"
)

func TestAskOutcomes(t *testing.T) {
	sys := NewActorSystem(nil)
	var outcomes []string
	ask := &Asker{Root: sys.Root, Timeout: 200 * time.Millisecond, Observer: func(m string, _ time.Duration, o string) { outcomes = append(outcomes, m+":"+o) }}
	ctx := context.Background()

	silent := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {})) // never replies
	_, err := Ask[*pb.MetricsResponse](ctx, ask, silent, &pb.MetricsRequest{})
	if semvec.KindOf(err) != semvec.KindTimeout {
		t.Fatalf("silent actor: %v (kind %v), want KindTimeout", err, semvec.KindOf(err))
	}

	stopped := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	if err := sys.Root.StopFuture(stopped).Wait(); err != nil {
		t.Fatal(err)
	}
	_, err = Ask[*pb.MetricsResponse](ctx, ask, stopped, &pb.MetricsRequest{})
	if semvec.KindOf(err) != semvec.KindUnavailable || !isDeadLetter(err) {
		t.Fatalf("stopped actor: %v, want KindUnavailable", err)
	}

	echo := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*pb.MetricsRequest); ok {
			c.Respond(&pb.MetricsResponse{Error: ToProtoError(semvec.NotFound("Session"))})
		}
	}))
	_, err = Ask[*pb.MetricsResponse](ctx, ask, echo, &pb.MetricsRequest{})
	if semvec.KindOf(err) != semvec.KindNotFound || err.Error() != "Session not found" {
		t.Fatalf("typed error reply: %v", err)
	}
	_, err = Ask[*pb.RunResponse](ctx, ask, echo, &pb.MetricsRequest{})
	if semvec.KindOf(err) != semvec.KindInternal {
		t.Fatalf("wrong reply type: %v", err)
	}

	// the request deadline wins over the configured timeout
	dctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	slow := &Asker{Root: sys.Root, Timeout: 10 * time.Second}
	_, err = Ask[*pb.MetricsResponse](dctx, slow, silent, &pb.MetricsRequest{})
	if semvec.KindOf(err) != semvec.KindTimeout || time.Since(start) > 5*time.Second {
		t.Fatalf("deadline not honoured: %v after %s", err, time.Since(start))
	}
	expired, cancel2 := context.WithTimeout(ctx, -time.Second)
	defer cancel2()
	if _, err = Ask[*pb.MetricsResponse](expired, ask, echo, &pb.MetricsRequest{}); semvec.KindOf(err) != semvec.KindTimeout {
		t.Fatalf("expired deadline: %v", err)
	}
	if len(outcomes) == 0 || outcomes[0] != "MetricsRequest:timeout" || outcomes[1] != "MetricsRequest:unavailable" {
		t.Fatalf("observer saw %v", outcomes)
	}
}
