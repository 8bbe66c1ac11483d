#!/usr/bin/env bash
# Runs Keyward on its embedded SQLite database with the dashboard: builds the dashboard
# into dist/ first when it is missing or older than its sources (installing the
# WebAssembly toolchain when it is missing: about 12 minutes the first time on two cores,
# seconds afterwards), then `cargo run -p backend`, which carries it. Arguments go to
# keyward-server.
set -euo pipefail
cd "$(dirname "$0")/.."
stale=
if [[ ! -f dist/index.html ]]; then
  stale="not built yet"
elif [[ -n $(find frontend Trunk.toml Cargo.lock -newer dist/index.html -not -path '*/node_modules/*' -print -quit) ]]; then
  stale="older than its sources"
fi
if [[ -n $stale ]]; then
  echo "Building the dashboard ($stale; the first time installs Trunk and wasm-bindgen)…" >&2
  scripts/prepare.sh --no-browser
fi
exec cargo run -p backend -- "$@"
