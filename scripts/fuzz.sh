#!/usr/bin/env bash
# Fuzzes what Keyward reads from strangers: token parsing and the credential headers
# (`keyward-proto`, fuzz/proto/), the verify body and GraphQL document limits (the
# server, fuzz/). Each target first replays its kept reproducers
# (fuzz/regressions/<target>/), then runs for FUZZ_SECONDS seconds (default 60), a
# protocol target and a server target at a time, one on each core. A crash stops the run
# with the input saved under <fuzz dir>/artifacts/<target>/: fix it, then keep the input
# in fuzz/regressions/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}

cargo fuzz --version 2>/dev/null | grep -q ' 0\.13\.2$' || cargo install cargo-fuzz --version 0.13.2 --locked
# cargo-fuzz passes libFuzzer's instrumentation flags, which are unstable ones: the
# stable toolchain accepts them this way.
export RUSTC_BOOTSTRAP=1
# The protocol's parsers are small: optimised, with AddressSanitizer, they build in
# under a minute, and the hashing and checksum code beneath them uses unsafe SIMD. The
# server's targets compile the whole server: Keyward's own crates forbid unsafe code, and
# what is sought there is panics, overflows and runaway work, so no sanitizer, and an
# unoptimised build with debug assertions (the optimised one takes three times as long,
# longer than the fuzzing).
proto=(--fuzz-dir fuzz/proto --sanitizer address)
server=(--fuzz-dir fuzz --sanitizer none --dev)
cargo fuzz build "${proto[@]}"
cargo fuzz build "${server[@]}"
# `scripts/fuzz.sh build` only builds (CI builds while the tests run).
[[ ${1:-} == build ]] && exit 0

# Replays a target's reproducers, then fuzzes it; output to $log.
fuzz() {
  local target=$1 log=$2
  shift 2
  local corpus=fuzz/corpus/$target
  mkdir -p "$corpus"
  {
    if compgen -G "fuzz/regressions/$target/*" >/dev/null; then
      cargo fuzz run "$@" "$target" fuzz/regressions/"$target"/* -- -runs=0
    fi
    echo "== $target: ${seconds}s"
    cargo fuzz run "$@" "$target" "$corpus" -- \
      -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1
  } >"$log" 2>&1
}

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=0
for pair in "token verify_body" "credential_headers graphql_document"; do
  read -r mine theirs <<<"$pair"
  fuzz "$mine" "$logs/$mine" "${proto[@]}" &
  first=$!
  fuzz "$theirs" "$logs/$theirs" "${server[@]}" &
  second=$!
  wait "$first" || failed=1
  wait "$second" || failed=1
  cat "$logs/$mine" "$logs/$theirs"
  ((failed == 0)) || { echo "fuzzing found a crash (above)"; exit 1; }
done
