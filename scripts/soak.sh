#!/usr/bin/env bash
# Soak: two nodes on one PostgreSQL (KEYWARD_BENCH_POSTGRES_URL, required) under mixed
# load for SOAK_SECONDS (default 300): wrk verifies random keys of KEYS seeded ones at both
# nodes (each verification is counted and written back once a second, SPEC §9), while
# scripts/bench/soak_mix.py creates, renames and revokes keys and reads the dashboard's
# pages through both. Every SAMPLE seconds (default 15) it prints, per node, resident
# memory, open descriptors, threads, keys held in its verification cache and database
# connections, and the memory of the
# PostgreSQL backends serving them (their own, anonymous memory). At the end it compares
# the first sample of the second half with the last: the run fails when any of them grew
# by more than GROWTH percent (default 5) over the second half.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${KEYWARD_BENCH_POSTGRES_URL:?set KEYWARD_BENCH_POSTGRES_URL=postgres://…}"
keys=${KEYS:-20000}
seconds=${SOAK_SECONDS:-300}
sample=${SAMPLE:-15}
growth=${GROWTH:-5}
port_a=${PORT:-18095}
port_b=$((port_a + 1))

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q -p backend --bin keyward-server --example seed_keys
target=${CARGO_TARGET_DIR:-target}/release

work=$(mktemp -d)
db="keyward_soak_$$"
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

nodes=()
for port in "$port_a" "$port_b"; do
  KEYWARD_DATABASE_URL=$url KEYWARD_LISTEN=127.0.0.1:$port KEYWARD_DEV_SIGNIN=off KEYWARD_LOG=warn \
    "$target/keyward-server" >"$work/node-$port.log" 2>&1 &
  pids+=($!)
  nodes+=($!)
done
for port in "$port_a" "$port_b"; do
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null || { cat "$work/node-$port.log"; exit 1; }
done

# A node's figures: resident kB, descriptors, threads; its database connections are
# the backends whose client port is one of the node's sockets.
status() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
backends() {
  psql "$url" -qAtc "SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND pid <> pg_backend_pid()"
}
backend_kb() {
  local total=0 kb
  for pid in $(backends); do
    kb=$(awk '$1 == "RssAnon:" { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
    total=$((total + ${kb:-0}))
  done
  echo "$total"
}
samples="$work/samples.tsv"
take() {
  local row=$1
  local i=0 port held
  for pid in "${nodes[@]}"; do
    port=$((port_a + i)); i=$((i + 1))
    held=$(curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^keyward_verify_cache_entries / { print int($2) }')
    row+=$'\t'"$(status "$pid" VmRSS)"$'\t'"$(ls "/proc/$pid/fd" | wc -l)"$'\t'"$(status "$pid" Threads)"$'\t'"${held:-0}"
  done
  row+=$'\t'"$(backends | wc -l)"$'\t'"$(backend_kb)"
  echo "$row" >>"$samples"
  printf '%6s s  A %7s kB %4s fd %3s thr %6s held   B %7s kB %4s fd %3s thr %6s held   pg %3s conns %8s kB\n' $row
}

echo "== $seconds s of mixed load on both nodes (wrk 4 connections each, and the dashboard's traffic)"
sed -n "1,10000p" "$work/keys.txt" >"$work/load.txt"
for port in "$port_a" "$port_b"; do
  wrk -t1 -c4 -d"${seconds}s" -s scripts/bench/verify.lua "http://127.0.0.1:$port/" -- "$work/load.txt" >/dev/null &
  pids+=($!)
done
python3 scripts/bench/soak_mix.py "http://127.0.0.1:$port_a" "http://127.0.0.1:$port_b" \
  "$(cat "$work/keys.txt.pat")" "$(cat "$work/keys.txt.org")" "$seconds" &
mix=$!
pids+=($mix)
start=$SECONDS
while ((SECONDS - start < seconds)); do
  take $((SECONDS - start))
  sleep "$sample"
done
take $((SECONDS - start))
wait "$mix" || echo "the mixed traffic stopped early (above)"

# What the nodes warned of (a lost listener, a pool that timed out), each kind once.
for port in "$port_a" "$port_b"; do
  echo "== node on $port: $(grep -c -E 'WARN|ERROR' "$work/node-$port.log" || true) warnings and errors"
  grep -E 'WARN|ERROR' "$work/node-$port.log" | sed -E 's/^[^ ]+ +//' | cut -c1-200 | sort | uniq -c | sort -rn | head -5 || true
done

echo "== growth over the second half (limit $growth%)"
python3 - "$samples" "$growth" <<'PY'
import sys
rows = [list(map(int, l.split("\t"))) for l in open(sys.argv[1]) if l.strip()]
limit = float(sys.argv[2])
names = ["A resident kB", "A descriptors", "A threads", "A keys held", "B resident kB",
         "B descriptors", "B threads", "B keys held", "PostgreSQL connections",
         "PostgreSQL backends kB"]
half = next(r for r in rows if r[0] >= rows[-1][0] / 2)
failed = False
for i, name in enumerate(names, start=1):
    a, b = half[i], rows[-1][i]
    pct = (b - a) * 100.0 / a if a else 0.0
    # Descriptors, threads and connections are small counts: a few either way is noise.
    # Keys held is what the memory holds, shown beside it, not a limit of its own.
    bad = "held" not in name and pct > limit and (b - a) > (2 if "kB" not in name else 0)
    failed |= bad
    print(f"{name:>24}: {a:>9} at {half[0]:>4} s -> {b:>9} at {rows[-1][0]:>4} s  {pct:+6.1f}%{'  GREW' if bad else ''}")
sys.exit(1 if failed else 0)
PY
