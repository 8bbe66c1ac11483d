#!/usr/bin/env bash
# Runs Keyward on its embedded SQLite database with the dashboard: builds the dashboard
# into dist/ first when it is not built yet (installing the WebAssembly toolchain when it
# is missing: about 12 minutes the first time on two cores, seconds afterwards), then
# `cargo run -p backend`, which carries it. Arguments go to keyward-server.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f dist/index.html ]]; then
  echo "Building the dashboard (the first time installs Trunk and wasm-bindgen)…" >&2
  scripts/prepare.sh --no-browser
fi
exec cargo run -p backend -- "$@"
