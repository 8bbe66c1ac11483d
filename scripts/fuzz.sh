#!/usr/bin/env bash
# Fuzzes what Keyward reads from strangers (fuzz/fuzz_targets/): token parsing, the
# credential headers, the verify body and GraphQL document limits. Each target first
# replays its kept reproducers (fuzz/regressions/<target>/), then runs for
# FUZZ_SECONDS seconds (default 60). A crash stops the run with the input saved under
# fuzz/artifacts/<target>/: fix it, then keep the input in fuzz/regressions/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}

cargo fuzz --version 2>/dev/null | grep -q ' 0\.13\.2$' || cargo install cargo-fuzz --version 0.13.2 --locked
# cargo-fuzz passes libFuzzer's instrumentation flags, which are unstable ones: the
# stable toolchain accepts them this way. No sanitizer: the code under test is safe Rust,
# and what is sought is panics, overflows and runaway work.
export RUSTC_BOOTSTRAP=1
cargo fuzz build --sanitizer none
for target in token credential_headers verify_body graphql_document; do
  corpus=fuzz/corpus/$target
  mkdir -p "$corpus"
  if compgen -G "fuzz/regressions/$target/*" >/dev/null; then
    cargo fuzz run --sanitizer none "$target" fuzz/regressions/"$target"/* -- -runs=0
  fi
  echo "== $target: ${seconds}s"
  cargo fuzz run --sanitizer none "$target" "$corpus" -- \
    -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1
done
