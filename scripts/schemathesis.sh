#!/usr/bin/env bash
# Fuzzes the live REST surface against its own OpenAPI document (/api/v1/openapi.json)
# with Schemathesis: a fresh server on a temporary SQLite database, signed in as an
# instance admin who owns an organization and a key, then every documented operation with
# generated valid and invalid requests. Fails on any 5xx, any status, content type, header
# or body the document does not describe, an invalid request accepted, or a credential
# ignored.
# Usage: scripts/schemathesis.sh [path/to/keyward-server]
#   ST_MAX_EXAMPLES (default 100) cases per operation and phase; ST_SEED to replay a run.
set -euo pipefail
given=${1:+$(realpath "$1")}
cd "$(dirname "$0")/.."
root=$PWD

version=4.32.5
tools=${KEYWARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keyward}
venv=$tools/schemathesis-$version
if [[ ! -x $venv/bin/st ]]; then
  echo "== installing Schemathesis $version into $venv"
  rm -rf "$venv"
  mkdir -p "$tools"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

export KEYWARD_LOG_FORMAT=json
export KEYWARD_LOG=info,backend::app=debug # one line per request, for the summary below
# Secret-scanning reports are checked against keys from this local document (none), not
# fetched from GitHub: a report signed by any key is refused as a stranger's would be.
keys_dir=$(mktemp -d)
mkdir -p "$keys_dir/meta/public_keys"
echo '{"public_keys": []}' >"$keys_dir/meta/public_keys/secret_scanning"
keys_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$keys_port" --bind 127.0.0.1 --directory "$keys_dir" >/dev/null 2>&1 &
keys_server=$!
export KEYWARD_SECRET_SCANNING_KEYS_URL=http://127.0.0.1:$keys_port/meta/public_keys/secret_scanning
source scripts/lib/server.sh
start_server "${given:-$(realpath target/debug/keyward-server)}" schemathesis
# The server's own clean-up (scripts/lib/server.sh), and the keys' server with it.
trap 'kill $server_pid $keys_server 2>/dev/null || true; rm -rf "$work" "$keys_dir"' EXIT
cd "$work" # Schemathesis keeps its replay files here, not in the checkout.

pat=$("$server_bin" bootstrap --email fuzz@example.com 2>/dev/null)
[[ $pat == kw_pat_* ]] || fail "bootstrap printed no PAT"
org=$(gql "$pat" 'mutation { createOrganization(input: {name: "Fuzz"}) { organization { id } } }' \
  | jq -r '.data.createOrganization.organization.id')
[[ -n $org && $org != null ]] || fail "no organization"

run=(run "$KW/api/v1/openapi.json"
  --checks all
  --max-examples "${ST_MAX_EXAMPLES:-100}"
  --workers 2
  --request-timeout 10
  --generation-database none
  ${ST_SEED:+--seed "$ST_SEED"})

# Everything but revoking tokens (the caller's own among them: the fuzzer finds its id in
# the list) and the key event stream (it stays open for as long as the client reads; the
# integration tests drive it), as the organization's owner.
echo "== every operation, as an instance admin who owns an organization"
KEYWARD_FUZZ_ORG=$org "$venv/bin/st" --no-color --config-file "$root/scripts/schemathesis.toml" "${run[@]}" \
  -H "Authorization: Bearer $pat" --exclude-path-regex '^/api/v1/pats/[^/]+/revoke$|^/api/v1/keys/events$' \
  || fail "the REST surface does not match its document"

# Personal access tokens, revoking them included, with a token of its own (it may revoke
# itself on the way).
echo "== personal access tokens, revoking the presented one included"
throwaway=$(gql "$pat" 'mutation { createPersonalAccessToken(input: {name: "fuzz-revoke"}) { secret } }' \
  | jq -r '.data.createPersonalAccessToken.secret')
[[ $throwaway == kw_pat_* ]] || fail "no throwaway token"
KEYWARD_FUZZ_ORG=$org "$venv/bin/st" --no-color --config-file "$root/scripts/schemathesis.toml" "${run[@]}" \
  -H "Authorization: Bearer $throwaway" --include-path-regex '^/api/v1/pats' \
  || fail "personal access tokens do not match their document"
# (One operation that links to nothing: no stateful phase.)
single=(--phases examples,coverage,fuzzing)

# Signing out, with a dashboard session of its own (the development sign-in link the
# server printed; the first call ends the session).
echo "== signing out of a dashboard session"
link=$(grep -o 'http://[^ ]*/auth/dev?token=[A-Za-z0-9]*' "$work/server.log" | head -n 1)
[[ -n $link ]] || fail "no development sign-in link"
cookie=$(curl -fsS -o /dev/null -D - "$link" | tr -d '\r' | sed -n 's/^set-cookie: \(keyward_session=[^;]*\).*/\1/Ip' | head -n 1)
[[ -n $cookie ]] || fail "no session from the development sign-in link"
# (The cookie is sent as a header of every request, so a case "without the cookie" still
# carries it: those cases are not checked for rejection.)
"$venv/bin/st" --no-color "${run[@]}" "${single[@]}" -H "Cookie: $cookie" -H "X-Keyward-Client: dashboard" \
  --exclude-checks negative_data_rejection --include-path /auth/logout \
  || fail "signing out does not match its document"

grep -q '"level":"ERROR"\|panicked' "$work/server.log" && fail "the server logged an error"
echo "== answers by route and status"
jq -Rr 'fromjson? | select(.fields.message == "request") | "\(.fields.status) \(.fields.method) \(.fields.path | sub("/organizations/[^/]+/"; "/organizations/{org}/"))"' \
  "$work/server.log" | sort | uniq -c | sort -k3,3 -k2,2
echo "schemathesis: the REST surface matches its OpenAPI document"
