package actors_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/semvec-go/semvec/actors"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
	"github.com/semvec-go/semvec/vecmath/embed"
)

// Example shows a Go program embedding semvec-go without HTTP: it starts the
// actor system in process, creates a session and runs a short conversation.
func Example() {
	ctx := context.Background()
	store, err := persistence.Open(ctx, "sqlite:///:memory:")
	if err != nil {
		panic(err)
	}
	defer store.Close()

	log := slog.New(slog.DiscardHandler)
	sys := actors.NewActorSystem(log)
	defer sys.Shutdown() // deferred calls run last first: sessions, then the actor system, then the store
	ask := &actors.Asker{Root: sys.Root, Timeout: 2 * time.Second}
	emb := embed.NewHashing(384)
	sessions := actors.NewSessions(sys.Root, store, ask, actors.SessionConfig{Dim: emb.Dim(), ModelName: emb.Name()}, log, nil)
	defer sessions.Shutdown(ctx)

	id, err := sessions.Create(ctx, "my-app", actors.CreateOptions{})
	if err != nil {
		panic(err)
	}
	turn := func(message, previousAnswer string) *pb.RunResponse {
		texts := []string{message}
		if previousAnswer != "" {
			texts = append(texts, previousAnswer)
		}
		vecs, err := emb.Embed(ctx, texts)
		if err != nil {
			panic(err)
		}
		req := &pb.RunRequest{Owner: "my-app", SessionId: id, Message: message, MessageVec: vecs[0], ShortCircuitThreshold: 0.85}
		if previousAnswer != "" {
			req.Response, req.ResponseVec = previousAnswer, vecs[1]
		}
		res, err := actors.AskSession[*pb.RunResponse](ctx, sessions, id, req)
		if err != nil {
			panic(err)
		}
		return res
	}
	turn("How do I reset my password?", "")
	turn("Thanks. How do I enable two-factor login?", "Open Settings, then Security, then Reset password.")
	again := turn("how do I reset my password", "Use an authenticator app under Settings, Security.")
	fmt.Println("short circuit on the repeated question:", again.GetShortCircuit())
	fmt.Println("drift:", again.GetDriftPhase())
	// Output:
	// short circuit on the repeated question: true
	// drift: stable
}
