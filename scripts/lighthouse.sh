#!/usr/bin/env bash
# Lighthouse over the signed-in dashboard, served by a fresh keyward-server with a
# temporary database: performance, accessibility and best practices on each main page,
# with Lighthouse's desktop throttling (`LIGHTHOUSE_PRESET=perf` for its slow-4G phone).
# Fails when any score is under 0.95. Needs the dashboard built (scripts/prepare.sh) and
# Chromium.
# Usage: scripts/lighthouse.sh [path/to/keyward-server]
set -euo pipefail

given=${1:+$(realpath "$1")}
cd "$(dirname "$0")/.."
root=$PWD
[[ -f dist/index.html ]] || { echo "lighthouse: build the dashboard first (scripts/prepare.sh)" >&2; exit 1; }

lock=scripts/lighthouse/package-lock.json
if [[ ! -f scripts/lighthouse/node_modules/.package-lock.json || $lock -nt scripts/lighthouse/node_modules/.package-lock.json ]]; then
  (cd scripts/lighthouse && npm ci --no-audit --no-fund --silent)
fi

export KEYWARD_DASHBOARD_DIR=$root/dist KEYWARD_DEV_SIGNIN=on
source scripts/lib/server.sh
start_server "${given:-$(realpath target/debug/keyward-server)}" lighthouse

# Signed in as a newcomer is: the development link, its session cookie, one key to list.
link=$("$server_bin" signin-link 2>/dev/null | grep -o 'http[^ ]*/auth/dev[^ ]*' | head -n1)
[[ -n $link ]] || fail "signin-link printed no link"
curl -fsS -o /dev/null -c "$work/jar" "$link" || fail "the sign-in link was refused"
cookie=$(awk '$6 ~ /^kw_/ || $6 ~ /session/ { print $6 "=" $7 }' "$work/jar" | paste -sd ';' -)
[[ -n $cookie ]] || fail "signing in set no cookie"
org=$(curl -fsS "$KW/graphql" -H "Cookie: $cookie" -H "Origin: $KW" -H 'Content-Type: application/json' \
  -d '{"query":"{ organizations { id } }"}' | jq -r '.data.organizations[0].id')
curl -fsS -o /dev/null "$KW/graphql" -H "Cookie: $cookie" -H "Origin: $KW" -H 'Content-Type: application/json' \
  -d "$(jq -n --arg o "$org" '{query: "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }", variables: {i: {organizationId: $o, name: "web"}}}')"

chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome)
export CHROME_PATH=$chrome
preset=${LIGHTHOUSE_PRESET:-desktop}
headers=$(jq -cn --arg c "$cookie" '{Cookie: $c}')
worst=1
for page in /keys /tokens /service-accounts /members /roles /analytics /audit /sessions /settings; do
  out=$work/lighthouse-${page//\//}.json
  scripts/lighthouse/node_modules/.bin/lighthouse "$KW$page" --quiet --output=json --output-path="$out" \
    --only-categories=performance,accessibility,best-practices --preset="$preset" \
    --extra-headers="$headers" \
    --chrome-flags="--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --disable-background-networking --disable-component-update --disable-sync" \
    || fail "lighthouse could not run on $page"
  scores=$(jq -r '[.categories[] | "\(.id) \(.score)"] | join(", ")' "$out")
  printf 'lighthouse %-18s %s\n' "$page" "$scores"
  low=$(jq -r '[.categories[].score] | min' "$out")
  if awk "BEGIN { exit !($low < 0.95) }"; then
    worst=0
    jq -r '.categories[] | select(.score < 0.95) | .auditRefs[].id' "$out" | while read -r id; do
      jq -r --arg id "$id" '.audits[$id] | select(.score != null and .score < 0.9) | "  \(.id): \(.title) (\(.displayValue // .score))"' "$out"
    done
  fi
done
((worst)) || fail "a page scored under 0.95"
echo "lighthouse: every page scored at least 0.95"
