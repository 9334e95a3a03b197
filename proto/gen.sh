#!/usr/bin/env bash
# Regenerates the Go code for every actor message.
# Needs protoc (Debian: apt-get install -y protobuf-compiler) and
# protoc-gen-go (go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12).
set -euo pipefail
cd "$(dirname "$0")"
PATH="$PATH:$(go env GOPATH)/bin"
protoc -I . --go_out=. --go_opt=paths=source_relative ./*.proto
