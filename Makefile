.PHONY: run test bench proto build load

# Start a working server on its built-in defaults (SQLite, built-in embedder,
# a development licence printed on the console, listening on 127.0.0.1:8080).
# The binary is built first and then replaces the recipe's shell (exec), so
# the server is make's own child: stopping make (Ctrl-C, or SIGTERM to make's
# PID, which GNU make passes on to its child) stops the server, and no
# `go run` process sits in between to die while the server keeps the port.
run:
	go build -o bin/semvec ./cmd/semvec && exec ./bin/semvec serve

# The test suite. PostgreSQL tests run only when TEST_DATABASE_URL is set;
# the cluster tests (membership, cmd/semvec/clustertest) start their own
# etcd and skip without one:
#   TEST_DATABASE_URL=postgresql://user:pw@127.0.0.1:5432/db?sslmode=disable make test
test:
	@if [ -z "$$TEST_DATABASE_URL" ]; then echo "make test: TEST_DATABASE_URL not set, PostgreSQL tests skipped (TEST_DATABASE_URL=postgresql://… make test runs them)"; fi
	go test -race -count=1 $$(go list ./... | grep -v -e /actors/membership -e /actors/placementtest -e /cmd/semvec/clustertest)
	@# protoactor's cluster and remote code race inside themselves: the
	@# membership provider's own tests run with -race, its TestCluster*
	@# tests (real cluster members) without. Both need etcd (etcd-server).
	go test -race -count=1 -skip '^TestCluster' ./actors/membership/...
	go test -count=1 -run '^TestCluster' ./actors/membership/...
	@# Several cluster-mode nodes in one process (actors.Placement's routers),
	@# and three real `semvec serve` processes in cluster mode (etcd and
	@# TEST_DATABASE_URL; skipped without them), without -race likewise.
	go test -count=1 ./actors/placementtest/ ./cmd/semvec/clustertest/...

bench:
	go test -run '^$$' -bench . -benchmem ./...

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/semvec ./cmd/semvec

proto:
	./proto/gen.sh
