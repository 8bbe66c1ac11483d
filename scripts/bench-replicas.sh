#!/usr/bin/env bash
# Two nodes on one PostgreSQL (KEYWARD_BENCH_POSTGRES_URL, required; with
# KEYWARD_BENCH_REDIS_URL they also share rate limits): node B is kept under load with wrk
# while keys are revoked at node A one after the other; prints how long node B took to
# refuse each (p50, p99, max) and how many requests it accepted after the revoke returned.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${KEYWARD_BENCH_POSTGRES_URL:?set KEYWARD_BENCH_POSTGRES_URL=postgres://…}"
keys=${KEYS:-20000}
revokes=${REVOKES:-200}
port_a=${PORT:-18091}
port_b=$((port_a + 1))

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q -p backend --bin keyward-server --example seed_keys
target=${CARGO_TARGET_DIR:-target}/release

work=$(mktemp -d)
db="keyward_bench_$$"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$KEYWARD_BENCH_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql "$KEYWARD_BENCH_POSTGRES_URL" -qc "CREATE DATABASE $db" >/dev/null
url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' \
  "$KEYWARD_BENCH_POSTGRES_URL" "$db")
echo "== seeding $keys keys"
"$target/examples/seed_keys" "$url" "$keys" "$work/keys.txt" 2>/dev/null
# The first REVOKES keys are revoked; the load runs on the others.
sed -n "$((revokes + 1)),$((revokes + 10000))p" "$work/keys.txt" >"$work/load.txt"

[[ -n ${KEYWARD_BENCH_REDIS_URL:-} ]] && export KEYWARD_REDIS_URL=$KEYWARD_BENCH_REDIS_URL
for port in "$port_a" "$port_b"; do
  KEYWARD_DATABASE_URL=$url KEYWARD_LISTEN=127.0.0.1:$port KEYWARD_DEV_SIGNIN=off KEYWARD_LOG=warn \
    "$target/keyward-server" >"$work/node-$port.log" 2>&1 &
  pids+=($!)
done
for port in "$port_a" "$port_b"; do
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null || { cat "$work/node-$port.log"; exit 1; }
  # Serving from memory only once it hears the other node.
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -q '^keyward_verify_cache_trusted 1' && break
    sleep 0.1
  done
done

echo "== node B under load (wrk, 8 connections) while $revokes keys are revoked at node A"
wrk -t1 -c8 -d600s -s scripts/bench/verify.lua "http://127.0.0.1:$port_b/" -- "$work/load.txt" >/dev/null &
pids+=($!)
sleep 2
python3 scripts/bench/propagation.py "http://127.0.0.1:$port_a" "http://127.0.0.1:$port_b" \
  "$(cat "$work/keys.txt.pat")" "$work/keys.txt.ids" "$revokes"
echo "== node B under the same load while $revokes other keys are edited at node A"
python3 scripts/bench/propagation.py "http://127.0.0.1:$port_a" "http://127.0.0.1:$port_b" \
  "$(cat "$work/keys.txt.pat")" "$work/keys.txt.ids" "$revokes" edit "$(cat "$work/keys.txt.org")"
