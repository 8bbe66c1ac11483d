#!/usr/bin/env bash
# The README's tour, run against a fresh server with a temporary database: bootstrap a
# PAT, create an organization and an API key over GraphQL, verify the key with each
# header style, revoke it, see 401 REVOKED and read the audit log.
# Usage: scripts/tour.sh [path/to/keyward-server]
set -euo pipefail

given=${1:+$(realpath "$1")}
cd "$(dirname "$0")/.."
source scripts/lib/server.sh
start_server "${given:-$(realpath target/debug/keyward-server)}" tour

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
