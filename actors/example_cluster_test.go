package actors_test

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"

	"github.com/semvec-go/semvec/actors"
	"github.com/semvec-go/semvec/actors/membership"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
	"github.com/semvec-go/semvec/vecmath/embed"
)

// ExampleNewPlacement embeds a cluster member in another Go program: the
// session layer and the layers over the shared PostgreSQL database, the
// grain kinds of actors.Placement, etcd membership. Every member started
// this way (and every `semvec serve` with SEMVEC_CLUSTER=1 on the same
// database, etcd and cluster name) serves every session: a session lives on
// the member that owns its id and is asked there from any other.
// (Not run by `go test`: it needs etcd and PostgreSQL.)
func ExampleNewPlacement() {
	ctx := context.Background()
	store, err := persistence.Open(ctx, os.Getenv("DATABASE_URL")) // PostgreSQL: one database for every member
	if err != nil {
		panic(err)
	}
	defer store.Close()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	sys := actors.NewActorSystem(log)
	ask := &actors.Asker{Root: sys.Root, Timeout: 5 * time.Second}
	emb := embed.NewHashing(384)
	sessions := actors.NewSessions(sys.Root, store, ask, actors.SessionConfig{Dim: emb.Dim(), ModelName: emb.Name()}, log, nil)
	layers := actors.NewLayers(sys.Root, store, ask, sessions, log, nil)
	place := actors.NewPlacement(sessions, layers, log)

	members, err := membership.New(membership.Config{
		Endpoints:  []string{"127.0.0.1:2379"},
		OnSelfLost: func() { os.Exit(3) }, // dropped by the others: let the supervisor restart the process
	})
	if err != nil {
		panic(err)
	}
	c := cluster.New(sys, cluster.Configure("semvec", members, disthash.New(),
		remote.Configure("0.0.0.0", 8090, remote.WithAdvertisedHost("10.0.0.5:8090")),
		cluster.WithKinds(place.Kinds()...)))
	if err := membership.Start(c); err != nil {
		panic(err)
	}
	place.Start(c)
	defer func() { // leave: stop routing here, save what runs here, then go
		place.Close(ctx)
		_ = layers.Shutdown(ctx)
		_ = sessions.Shutdown(ctx)
		c.Shutdown(true)
	}()

	id, err := sessions.Create(ctx, "my-app", actors.CreateOptions{})
	if err != nil {
		panic(err)
	}
	msg := "How do I scale a deployment?"
	_, err = actors.AskSession[*pb.RunResponse](ctx, sessions, id, &pb.RunRequest{
		Owner: "my-app", SessionId: id, Message: msg, MessageVec: emb.EmbedTo(nil, msg),
		ShortCircuitThreshold: 0.85, NowUnixNano: time.Now().UnixNano()})
	if err != nil {
		panic(err)
	}
}
