package placementtest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/semvec-go/semvec/actors"
	pb "github.com/semvec-go/semvec/proto"
)

// BenchmarkAskSession: one session's metrics asked from the member that
// hosts it (local: the Registry directly) and from another member (remote:
// through the session's router, over protoactor's remote on loopback).
func BenchmarkAskSession(b *testing.B) {
	nodes := startNodes(b, 2, filepath.Join(b.TempDir(), "bench.db"))
	ctx := context.Background()
	id, err := nodes[0].sessions.Create(ctx, "o", actors.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	hostAddr, err := nodes[0].place.HostOf(ctx, "session", "o", id)
	if err != nil {
		b.Fatal(err)
	}
	local, remote := nodes[0], nodes[1]
	if hostAddr == nodes[1].c.ActorSystem.Address() {
		local, remote = nodes[1], nodes[0]
	}
	for _, c := range []struct {
		name string
		nd   *node
	}{{"local", local}, {"remote", remote}} {
		b.Run(c.name, func(b *testing.B) {
			req := &pb.MetricsRequest{Owner: "o", SessionId: id}
			for b.Loop() {
				if _, err := actors.AskSession[*pb.MetricsResponse](ctx, c.nd.sessions, id, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
