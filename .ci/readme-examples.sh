#!/usr/bin/env bash
# Runs the README's examples against a live server, in order, as a reader
# pastes them: every ```sh block of README.md (then of docs/layers.md, in a
# shell of its own) except a block right after the line
# `<!-- readme-examples: skip -->` (those start servers, containers or
# keys). The server is bin/semvec built from this tree, started in
# development mode in a temporary directory (its .semvec-dev/token is what
# the examples read) on a temporary SQLite database and a free port;
# `localhost:8080` and `127.0.0.1:8080` in the examples are pointed at it.
# curl runs with --fail-with-body under `set -euo pipefail`, so any non-2xx
# answer (or a failing jq) fails the script. The Python quickstart runs too
# when python3 can import httpx.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$PATH:/usr/local/go/bin"
for tool in curl jq go; do command -v $tool >/dev/null || { echo "readme-examples: $tool is required"; exit 1; }; done

WORK=$(mktemp -d /tmp/semvec-readme.XXXXXX)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

go build -o "$WORK/semvec" ./cmd/semvec
cd "$WORK"
env -u SEMVEC_LICENSE_PUBLIC_KEY -u SEMVEC_LICENSE_PUBLIC_KEY_FILE -u SEMVEC_ALLOW_ANONYMOUS \
  DATABASE_URL="sqlite:///$WORK/semvec.db" SEMVEC_LOG_LEVEL=warn \
  "$WORK/semvec" serve --port 0 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
ADDR=
for _ in $(seq 100); do
  ADDR=$(sed -n 's/^semvec-go .* listening on \([^ ]*\) .*/\1/p' "$WORK/server.log" | head -1)
  [ -n "$ADDR" ] && curl -fsS "http://$ADDR/v1/health" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; echo "readme-examples: the server did not start"; exit 1; }
  sleep 0.1
done
[ -n "$ADDR" ] || { cat "$WORK/server.log"; echo "readme-examples: no listening address in the server's output"; exit 1; }
echo "readme-examples: server on $ADDR (log: $WORK/server.log)"

# extract FILE LANG: the LANG blocks of FILE that are not marked skip, with
# the documented address replaced by the live one.
extract() {
  awk -v lang="$2" '
    /^<!-- readme-examples: skip -->/ { skip = 1; next }
    !inb && $0 == "```" lang { inb = 1; if (!skip) { n++; print "echo \"--- " FILENAME " block " n "\"" }; next }
    inb && /^```/ { inb = 0; skip = 0; next }
    inb && !skip { print; next }
    !inb && NF { skip = 0 }
  ' "$1" | sed -e "s#localhost:8080#$ADDR#g" -e "s#127\.0\.0\.1:8080#$ADDR#g"
}

run_sh() {
  local file=$1 script="$WORK/$(basename "$1").sh"
  {
    echo 'set -euo pipefail'
    echo 'curl() { command curl --fail-with-body -sS -w "\n" "$@"; }'
    extract "$ROOT/$file" sh
  } >"$script"
  echo "== $file"
  if ! bash "$script"; then
    echo; echo "readme-examples: a $file example failed (script: $script)"; tail -20 "$WORK/server.log"
    trap - EXIT; kill "$SERVER_PID" 2>/dev/null || true; exit 1
  fi
  echo
}

run_sh README.md
run_sh docs/layers.md

PY=
for py in python3 /usr/bin/python3; do
  if command -v "$py" >/dev/null && "$py" -c 'import httpx' 2>/dev/null; then PY=$py; break; fi
done
if [ -n "$PY" ]; then
  echo "== README.md python"
  extract "$ROOT/README.md" python | grep -v '^echo "--- ' >"$WORK/quickstart.py"
  "$PY" "$WORK/quickstart.py"
else
  echo "readme-examples: no python3 with httpx, the Python quickstart was not run"
fi
echo "readme-examples OK"
