package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/semvec-go/semvec/http/api"
	"github.com/semvec-go/semvec/http/client"
)

// A conversation: run a turn, store the LLM's answer, and a paraphrase of the
// question is answered from memory (short_circuit).
func Example() {
	ctx := context.Background()
	c := client.New(serverURL) // add client.WithToken(token) unless the server runs anonymously

	run, err := c.Run(ctx, api.RunBody{Message: "What is Kubernetes?"})
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.SplitN(run.Context, "\n", 2)[0])
	// … give run.Context to the LLM as system context, then store its answer:
	if _, err := c.Store(ctx, api.StoreBody{SessionID: run.SessionID, Response: "Kubernetes is a container orchestration system."}); err != nil {
		panic(err)
	}
	again, err := c.Run(ctx, api.RunBody{SessionID: run.SessionID, Message: "what is kubernetes"})
	if err != nil {
		panic(err)
	}
	fmt.Println("short circuit:", again.ShortCircuit)
	// Output:
	// [Semvec Context | Phase: initialization | Turn 0 | 0 memories]
	// short circuit: true
}

// An error answer is an *client.Error with the status and the server's detail.
func ExampleError() {
	ctx := context.Background()
	c := client.New(serverURL)

	_, err := c.SessionMetrics(ctx, "no-such-session")
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Detail)
	}
	_, err = c.Run(ctx, api.RunBody{Message: "   "})
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Validation[0].Loc, e.Validation[0].Type)
	}
	// Output:
	// 404 Session not found
	// 422 [body message] string_too_short
}

// The literal cache keeps verbatim values (paths, signatures, error texts)
// under keys that may contain slashes.
func ExampleClient_PutEntity() {
	ctx := context.Background()
	c := client.New(serverURL)

	s, err := c.CreateSession(ctx, api.SessionCreateBody{})
	if err != nil {
		panic(err)
	}
	if _, err := c.PutEntity(ctx, s.SessionID, api.EntityBody{Key: "src/server/main.go", Kind: "path", Value: "cmd/semvec/main.go"}); err != nil {
		panic(err)
	}
	found, err := c.ListEntities(ctx, s.SessionID, api.EntitiesQuery{Q: "main"})
	if err != nil {
		panic(err)
	}
	for _, e := range found.Entities {
		fmt.Println(e.Key, "=", e.Value)
	}
	removed, err := c.DeleteEntity(ctx, s.SessionID, "src/server/main.go")
	if err != nil {
		panic(err)
	}
	fmt.Println("removed:", removed.Removed)
	// Output:
	// src/server/main.go = cmd/semvec/main.go
	// removed: true
}
