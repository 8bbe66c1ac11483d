#!/usr/bin/env bash
# Installs what the dashboard build and the browser tests need, when it is missing, and
# builds the dashboard into dist/ (served by keyward-server) with brotli and gzip copies.
# Safe to run again: each step is skipped when its tool is already there at the right
# version.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[[ $(id -u) -eq 0 ]] || sudo=sudo

# `--no-browser`: only what building the dashboard needs (scripts/run.sh).
browser=1
[[ ${1:-} == --no-browser ]] && browser=0

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
# Trunk builds offline (Trunk.toml): every crate must already be here.
cargo fetch --target wasm32-unknown-unknown --locked >/dev/null

# Three builds at once, since each ends on a step that keeps one core alone busy: Trunk
# and wasm-bindgen (when missing) and the dashboard's WebAssembly, which Trunk then finds
# built. The tools' own release profiles ask for link-time optimisation in one codegen
# unit, which doubles their build for tools that run for seconds: they are built lightly
# optimised instead, and without TLS, which they would only use to download (Trunk.toml
# keeps Trunk offline).
light=(env CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1)
builds=()
if ! trunk --version 2>/dev/null | grep -q ' 0\.21\.14'; then
  "${light[@]}" cargo install trunk --version 0.21.14 --locked --no-default-features &
  builds+=($!)
fi
bindgen=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
if ! wasm-bindgen --version 2>/dev/null | grep -q " $bindgen\$"; then
  "${light[@]}" cargo install wasm-bindgen-cli --version "$bindgen" --no-default-features &
  builds+=($!)
fi
cargo build --locked -p frontend --target wasm32-unknown-unknown --profile dashboard &
builds+=($!)

# Meanwhile, the system packages a fresh machine lacks.
packages=()
((browser)) && ! command -v chromedriver >/dev/null && packages+=(chromium chromium-driver)
command -v wasm-opt >/dev/null || packages+=(binaryen)
command -v brotli >/dev/null || packages+=(brotli)
command -v npm >/dev/null || packages+=(nodejs npm)
if ((${#packages[@]})); then
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"
fi
for build in "${builds[@]}"; do wait "$build"; done

trunk build --release

# GraphiQL, carried with the dashboard so /graphql loads nothing from another origin:
# pinned packages from npm (frontend/graphiql/package-lock.json) and Keyward's start-up.
lock=frontend/graphiql/package-lock.json
if [[ ! -f frontend/graphiql/node_modules/.package-lock.json || $lock -nt frontend/graphiql/node_modules/.package-lock.json ]]; then
  (cd frontend/graphiql && npm ci --no-audit --no-fund --silent)
fi
mkdir -p dist/graphiql
cp frontend/graphiql/node_modules/react/umd/react.production.min.js \
  frontend/graphiql/node_modules/react-dom/umd/react-dom.production.min.js \
  frontend/graphiql/node_modules/graphiql/graphiql.min.js \
  frontend/graphiql/node_modules/graphiql/graphiql.min.css \
  frontend/graphiql/start.js frontend/graphiql/keyward.css dist/graphiql/

# Compressed copies the server sends to browsers that accept them.
for asset in dist/*.wasm dist/*.js dist/*.css dist/graphiql/*.js dist/graphiql/*.css; do
  brotli --force --keep --quality=11 "$asset"
  gzip --force --keep --best "$asset"
done
