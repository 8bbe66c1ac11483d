#!/usr/bin/env bash
# Verification benchmark: builds in release mode, seeds KEYS API keys (default 100,000)
# into a fresh SQLite database (and PostgreSQL when KEYWARD_BENCH_POSTGRES_URL is set),
# starts the server and measures with wrk, printing req/s, p50 and p99 and the ratios to
# the static baseline (GET /health) measured in the same run:
#   - cold verification: a freshly started server, random keys (each mostly seen once),
#     over one connection and over CONNECTIONS;
#   - hot verification: a warmed set of 10,000 keys, all three header styles, and the
#     same over 1,000 of them (fewer rows of usage to write each second);
#   - POST /api/v1/keys/verify with a required permission, hot;
#   - hot verification of 1,000 keys a product sells: credits and two named limits
#     counted on every verification, beside the same over 1,000 plain keys (SPEC §3.5:
#     at most 1.5 times the server's CPU);
#   - the dashboard's keys page (its own GraphQL query, 50 keys and the total) over one
#     connection, with a personal access token (PostgreSQL vacuumed first, as autovacuum
#     does within a minute of a bulk insert);
# then resident memory with MEMORY_KEYS keys stored (default 1,000,000; 0 to skip) and
# HOT_KEYS of them (default 100,000) held in memory, on SQLite; then the verification
# SDK's cache and revocation latency (SDK=0 to skip). Each measure also prints
# the server's CPU time per request, which the load generator on the same cores does not
# blur.
# It also prints wrk's own CPU time per request: on the same cores, the client's cost is
# part of every req/s figure, and it is higher for a long answer than for a short one.
# Numbers drift with the machine's load; the ratios are what to compare.
set -euo pipefail
cd "$(dirname "$0")/.."

keys=${KEYS:-100000}
memory_keys=${MEMORY_KEYS:-1000000}
hot_keys=${HOT_KEYS:-100000}
duration=${DURATION:-10s}
connections=${CONNECTIONS:-16}
port=${PORT:-18089}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q -p backend --bin keyward-server --example seed_keys
target=${CARGO_TARGET_DIR:-target}/release

work=$(mktemp -d)
server=
cleanup() {
  [[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

start() {
  KEYWARD_DATABASE_URL=$1 KEYWARD_LISTEN=127.0.0.1:$port KEYWARD_DEV_SIGNIN=off \
    KEYWARD_LOG=warn "$target/keyward-server" >"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the server did not start:"; cat "$work/server.log"; exit 1
}

stop() {
  kill "$server" && wait "$server" 2>/dev/null || true
  server=
}

# The server's CPU time so far, in clock ticks (user and system).
server_ticks() { awk '{ print $14 + $15 }' "/proc/$server/stat"; }
ticks_per_second=$(getconf CLK_TCK)

# wrk LABEL URL_PATH SCRIPT ARGS…: prints one result row, remembers req/s, p99 and the
# server's CPU time per request (which wrk, sharing the machine, does not blur).
declare -A rps p50 p99 cpu wrkcpu
measure() {
  local label=$1 path=$2 script=$3
  shift 3
  local line c=${conns:-$connections} before after user system client TIMEFORMAT='%U %S'
  before=$(server_ticks)
  { time wrk -t"$((c < 2 ? c : 2))" -c"$c" -d"$duration" --latency -s "$script" \
    "http://127.0.0.1:$port$path" -- "$@" >"$work/wrk.out"; } 2>"$work/wrk.time"
  after=$(server_ticks)
  line=$(grep '^RESULT' "$work/wrk.out")
  read -r _ r a b errors total <<<"$line"
  read -r user system <"$work/wrk.time"
  rps[$label]=$r; p50[$label]=$a; p99[$label]=$b
  cpu[$label]=$(awk -v t="$((after - before))" -v hz="$ticks_per_second" -v n="$total" \
    'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "-" }')
  client=$(awk -v u="$user" -v s="$system" -v n="$total" \
    'BEGIN { if (n > 0) printf "%.1f", (u + s) * 1e6 / n; else print "-" }')
  wrkcpu[$label]=$client
  printf '%-34s %10s req/s   p50 %7s ms   p99 %7s ms   server %6s µs/req   wrk %5s µs/req   (%s requests, %s non-2xx)\n' \
    "$label" "$r" "$a" "$b" "${cpu[$label]}" "$client" "$total" "$errors"
}

sum() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a + b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# 1,000 keys as a product sells them, made over REST as a product would: credits (more
# than a run spends) and two named limits on every verification, neither reached.
seed_sold() {
  local pat org
  pat=$(cat "$work/keys.txt.pat")
  org=$(cat "$work/keys.txt.org")
  seq 1 1000 | xargs -P 2 -I{} curl -fsS -X POST "http://127.0.0.1:$port/api/v1/orgs/$org/api-keys" \
    -H "Authorization: Bearer $pat" -H 'Content-Type: application/json' \
    -d '{"name": "sold-{}", "rate_limit_per_minute": 1000000,
         "credits": {"remaining": 1000000000000},
         "ratelimits": [{"name": "burst", "limit": 1000000, "duration_ms": 1000, "auto_apply": true},
                        {"name": "daily", "limit": 1000000, "duration_ms": 86400000, "auto_apply": true}]}' \
    | jq -r .secret >"$work/sold.txt"
  [[ $(wc -l <"$work/sold.txt") == 1000 ]] || { echo "seeding the sold keys failed"; exit 1; }
}

run() {
  local name=$1 url=$2
  echo "== $name: seeding $keys keys"
  "$target/examples/seed_keys" "$url" "$keys" "$work/keys.txt" 2>/dev/null
  # What autovacuum does within a minute of a bulk insert, done now: PostgreSQL can then
  # count an organization's keys from the listing index alone (index-only, no heap
  # fetches), as it does on a deployment that has been up for more than a minute.
  if [[ $url == postgres* ]]; then psql "$url" -qc "VACUUM ANALYZE" >/dev/null; fi
  head -n 10000 "$work/keys.txt" >"$work/hot.txt"
  head -n 1000 "$work/keys.txt" >"$work/few.txt"
  start "$url"
  measure "$name static (GET /health)" / scripts/bench/verify.lua "$work/hot.txt" static
  # One connection first: the time of one lookup without queueing (it reads about 1% of
  # the keys, so the next measure stays cold).
  conns=1 measure "$name cold verify, 1 connection" / scripts/bench/verify.lua "$work/keys.txt"
  measure "$name cold verify" / scripts/bench/verify.lua "$work/keys.txt"
  # Warm the hot set, then measure it.
  wrk -t2 -c"$connections" -d3s -s scripts/bench/verify.lua "http://127.0.0.1:$port/" \
    -- "$work/hot.txt" >/dev/null
  measure "$name hot verify" / scripts/bench/verify.lua "$work/hot.txt"
  # The same with a tenth of the keys: usage and analytics are written once a second
  # per key used, so this shows what those writes cost.
  measure "$name hot verify, 1,000 keys" / scripts/bench/verify.lua "$work/few.txt"
  measure "$name hot POST verify (require)" / scripts/bench/verify.lua "$work/hot.txt" post
  seed_sold
  wrk -t2 -c"$connections" -d3s -s scripts/bench/verify.lua "http://127.0.0.1:$port/" \
    -- "$work/sold.txt" >/dev/null
  measure "$name hot verify, 1,000 sold keys" / scripts/bench/verify.lua "$work/sold.txt"
  # The dashboard's keys page as one person waits for it: one connection.
  conns=1 measure "$name GraphQL apiKeys page (50), 1 connection" / scripts/bench/graphql.lua \
    "$work/keys.txt.pat" "$work/keys.txt.org"
  local cache
  cache=$(curl -fsS "http://127.0.0.1:$port/metrics" | grep -E '^keyward_verify_cache_(hits|misses)_total ' | tr '\n' ' ')
  echo "   cache: $cache"
  echo "   hot ÷ static: req/s $(ratio "${rps[$name hot verify]}" "${rps[$name static (GET /health)]}")," \
    "p99 $(ratio "${p99[$name hot verify]}" "${p99[$name static (GET /health)]}");" \
    "server CPU a request, static ÷ hot: $(ratio "${cpu[$name static (GET /health)]}" "${cpu[$name hot verify]}");" \
    "server and wrk together: $(ratio "$(sum "${cpu[$name static (GET /health)]}" "${wrkcpu[$name static (GET /health)]}")" \
      "$(sum "${cpu[$name hot verify]}" "${wrkcpu[$name hot verify]}")")"
  echo "   sold ÷ plain, 1,000 keys each (credits and 2 limits; target ≤ 1.5): server CPU a request" \
    "$(ratio "${cpu[$name hot verify, 1,000 sold keys]}" "${cpu[$name hot verify, 1,000 keys]}")," \
    "req/s $(ratio "${rps[$name hot verify, 1,000 keys]}" "${rps[$name hot verify, 1,000 sold keys]}") (plain ÷ sold)"
  echo "   hot over 1,000 keys ÷ static: req/s $(ratio "${rps[$name hot verify, 1,000 keys]}" "${rps[$name static (GET /health)]}")," \
    "server CPU a request, static ÷ hot: $(ratio "${cpu[$name static (GET /health)]}" "${cpu[$name hot verify, 1,000 keys]}")"
  stop
}

cache_entries() {
  curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^keyward_verify_cache_entries / { print int($2) }'
}

# Resident memory with memory_keys stored and hot_keys held in memory.
memory() {
  local url="sqlite://$work/memory.db?mode=rwc"
  echo "== memory: seeding $memory_keys keys"
  "$target/examples/seed_keys" "$url" "$memory_keys" "$work/all.txt" 2>/dev/null
  head -n "$hot_keys" "$work/all.txt" >"$work/warm.txt"
  start "$url"
  echo "   started: $(ps -o rss= -p "$server" | awk '{ printf "%.1f MB", $1 / 1024 }') resident"
  # One wrk thread walks the keys in order, so each pass reads every key once.
  for _ in 1 2 3 4 5; do
    wrk -t1 -c"$connections" -d10s -s scripts/bench/verify.lua "http://127.0.0.1:$port/" \
      -- "$work/warm.txt" sequential >/dev/null
    if (($(cache_entries) >= hot_keys * 99 / 100)); then break; fi
  done
  echo "   $memory_keys keys stored, $(cache_entries) held in memory:" \
    "$(ps -o rss= -p "$server" | awk '{ printf "%.1f MB", $1 / 1024 }') resident"
  stop
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo);" \
  "$connections connections, $duration per measure"
run sqlite "sqlite://$work/bench.db?mode=rwc"
if [[ -n ${KEYWARD_BENCH_POSTGRES_URL:-} ]]; then
  db="keyward_bench_$$"
  psql "$KEYWARD_BENCH_POSTGRES_URL" -qc "CREATE DATABASE $db" >/dev/null
  pg_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' \
    "$KEYWARD_BENCH_POSTGRES_URL" "$db")
  run postgres "$pg_url"
  psql "$KEYWARD_BENCH_POSTGRES_URL" -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null
fi
if ((memory_keys > 0)); then memory; fi
# The verification SDK (SPEC §16): a cached verification in-process against hashing the
# token alone, and how soon a revocation reaches a following client while the server is
# under load (tests/benches/sdk.rs). SDK=0 skips it.
if ((${SDK:-1})); then
  echo "== keyward-verify (cargo bench -p tests --bench sdk)"
  cargo bench -q -p tests --bench sdk
fi
