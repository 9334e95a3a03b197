.PHONY: run test bench proto build load

# Start a working server on its built-in defaults (SQLite, built-in embedder,
# a development licence printed on the console).
run:
	go run ./cmd/semvec serve

# The test suite (PostgreSQL tests run when TEST_DATABASE_URL is set).
test:
	go test -race -count=1 ./...

bench:
	go test -run '^$$' -bench . -benchmem ./...

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/semvec ./cmd/semvec

proto:
	./proto/gen.sh
