#!/usr/bin/env bash
# Regenerates the Go code for every actor message (make proto).
# protoc comes from Debian (apt-get install -y protobuf-compiler);
# protoc-gen-go is installed from the module proxy at the pinned version.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:$(go env GOPATH)/bin"
if ! command -v protoc >/dev/null; then
  echo "protoc not found: apt-get install -y protobuf-compiler" >&2
  exit 1
fi
want=v1.36.12
if ! command -v protoc-gen-go >/dev/null || [ "$(protoc-gen-go --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
  go install "google.golang.org/protobuf/cmd/protoc-gen-go@$want"
fi
protoc -I . --go_out=. --go_opt=paths=source_relative ./*.proto
