# Shared by the scripts that drive a fresh keyward-server: source it, then
# `start_server PATH/TO/keyward-server NAME`. That starts the server on a free loopback port
# with a temporary SQLite database, waits until it is ready, and stops it and removes the
# database on exit. It sets `work` (the temporary folder, with `server.log`), `KW` (the
# base URL) and `server_pid`; `fail MESSAGE` stops the script with the server's log, and
# `gql TOKEN QUERY [VARIABLES]` sends a GraphQL request.

start_server() {
  server_bin=$1
  script_name=$2
  work=$(mktemp -d)
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  export KEYWARD_LISTEN=127.0.0.1:$port
  export KEYWARD_DATABASE_URL="sqlite://$work/keyward.db?mode=rwc"
  export KEYWARD_PUBLIC_URL=http://127.0.0.1:$port
  KW=http://127.0.0.1:$port
  "$server_bin" >"$work/server.log" 2>&1 &
  server_pid=$!
  trap 'kill $server_pid 2>/dev/null || true; rm -rf "$work"' EXIT
  for _ in $(seq 1 100); do
    curl -fsS "$KW/ready" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "$KW/ready" >/dev/null 2>&1 || fail "the server did not start"
}

fail() {
  echo "$script_name: $*" >&2
  tail -n 80 "$work/server.log" >&2
  exit 1
}

gql() { # gql TOKEN QUERY [VARIABLES]
  curl -fsS "$KW/graphql" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
    -d "$(jq -n --arg q "$2" --argjson v "${3:-{\}}" '{query: $q, variables: $v}')"
}
