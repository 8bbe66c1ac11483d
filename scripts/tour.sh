#!/usr/bin/env bash
# The README's tour, run against a fresh server with a temporary database: bootstrap a
# PAT, create an organization and an API key over GraphQL, verify the key with each
# header style, revoke it, see 401 REVOKED and read the audit log.
# Usage: scripts/tour.sh [path/to/keyward-server]
set -euo pipefail

server_bin=${1:-target/debug/keyward-server}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export KEYWARD_LISTEN=127.0.0.1:$port
export KEYWARD_DATABASE_URL="sqlite://$work/keyward.db?mode=rwc"
KW=http://127.0.0.1:$port

"$server_bin" >"$work/server.log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -fsS "$KW/ready" >/dev/null 2>&1 && break
  sleep 0.1
done

fail() { echo "tour: $*" >&2; cat "$work/server.log" >&2; exit 1; }
gql() { # gql TOKEN QUERY [VARIABLES]
  curl -fsS "$KW/graphql" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
    -d "$(jq -n --arg q "$2" --argjson v "${3:-{\}}" '{query: $q, variables: $v}')"
}

# 1. Bootstrap an instance admin; the PAT is printed on stdout.
PAT=$("$server_bin" bootstrap --email ada@example.com 2>/dev/null)
[[ $PAT == kw_pat_* ]] || fail "bootstrap printed no PAT"

# 2. Create an organization and an API key over GraphQL.
ORG=$(gql "$PAT" 'mutation { createOrganization(input: {name: "Acme"}) { organization { id } } }' \
  | jq -r '.data.createOrganization.organization.id')
[[ -n $ORG && $ORG != null ]] || fail "no organization"
CREATED=$(gql "$PAT" 'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret apiKey { id prefix } } }' \
  "{\"i\": {\"organizationId\": \"$ORG\", \"name\": \"ci-deploy\", \"scopes\": [\"api_keys:read\"]}}")
KEY=$(jq -r '.data.createApiKey.secret' <<<"$CREATED")
KEY_ID=$(jq -r '.data.createApiKey.apiKey.id' <<<"$CREATED")
[[ $KEY == kw_sk_live_* ]] || fail "no API key: $CREATED"

# 3. Verify it with each header style.
for header in "Authorization: Bearer $KEY" "Authorization: ApiKey $KEY" "X-API-Key: $KEY"; do
  valid=$(curl -fsS "$KW/api/v1/api-keys/verify" -H "$header" | jq -r '.valid')
  [[ $valid == true ]] || fail "verify failed with ${header%%:*}"
done
code=$(curl -sS -X POST "$KW/api/v1/keys/verify" -d "{\"key\": \"$KEY\", \"require\": [\"api_keys:write\"], \"tags\": {\"endpoint\": \"/deployments\"}}" | jq -r '.code')
[[ $code == INSUFFICIENT_PERMISSIONS ]] || fail "require check answered $code"

# 4. Revoke it and see 401 REVOKED.
gql "$PAT" 'mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { status } }' \
  "{\"i\": {\"id\": \"$KEY_ID\", \"reason\": \"tour\"}}" >/dev/null
status=$(curl -sS -o "$work/revoked.json" -w '%{http_code}' "$KW/api/v1/api-keys/verify" -H "X-API-Key: $KEY")
[[ $status == 401 && $(jq -r .code "$work/revoked.json") == REVOKED ]] || fail "revoked key answered $status"

# 5. Read the audit log.
actions=$(gql "$PAT" 'query($o: ID!) { auditEvents(organizationId: $o) { nodes { action agent } } }' "{\"o\": \"$ORG\"}" \
  | jq -r '[.data.auditEvents.nodes[].action] | join(",")')
[[ $actions == api_key.revoke,api_key.create,project.create,organization.create ]] || fail "audit log: $actions"

echo "tour: every step answered as documented"
