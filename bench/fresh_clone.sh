#!/usr/bin/env bash
# A newcomer's first minutes, timed: clone this checkout, `make dev` on embedded services,
# wait for "worker ready", post one comment and wait until it is in its thread.
# Usage: bash bench/fresh_clone.sh [PORT]   (prints the figures; removes the clone)
set -euo pipefail
port=${1:-8000}
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
unset DATABASE_URL BROKER_URL RABBITMQ_URL
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
git clone -q "$repo" "$dir/fresh"
cd "$dir/fresh"

start=$(date +%s.%N)
make -s VENV=.venv .venv/.installed-dev >install.log 2>&1
installed=$(date +%s.%N)
.venv/bin/moderation dev --port "$port" >dev.log 2>&1 &
dev=$!
trap 'kill -INT $dev 2>/dev/null; wait $dev; rm -rf "$dir"' EXIT
until grep -q "worker ready" dev.log; do
    kill -0 $dev 2>/dev/null || { tail -30 dev.log; exit 1; }
    sleep 0.2
done
ready=$(date +%s.%N)
key=$(grep -o 'widget key: wk_[^ ]*' dev.log | cut -d' ' -f3)
api="http://127.0.0.1:$port/v1/sites/demo/articles/hello/comments"
posted=$(date +%s.%N)
curl -sf -X POST "$api" -H 'Content-Type: application/json' -H "X-Site-Key: $key" \
    -d '{"author": {"name": "Ann"}, "body": "Hello from a fresh clone"}' >/dev/null
until curl -sf "$api" | grep -q "fresh clone"; do sleep 0.1; done
published=$(date +%s.%N)

seconds() { echo "$2 - $1" | bc; }
echo "install (make's dev target): $(seconds "$start" "$installed") s"
echo "dev start to worker ready:   $(seconds "$installed" "$ready") s"
echo "first comment to published:  $(seconds "$posted" "$published") s"
echo "clone to first decision:     $(seconds "$start" "$published") s"
grep -m1 "worker ready" dev.log
