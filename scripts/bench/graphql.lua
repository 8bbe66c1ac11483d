-- wrk script: one page of an organization's API keys through GraphQL, as the dashboard
-- asks for it. Arguments: the file holding a personal access token; the file holding the
-- organization's id.
local body
local token

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("*l")
  f:close()
  return s
end

function init(args)
  token = read(args[1])
  local org = read(args[2])
  body = '{"query":"query($org: ID!) { apiKeys(organizationId: $org, first: 50) '
    .. '{ totalCount edges { node { id name prefix status scopes createdAt lastUsedAt '
    .. 'expiresAt } } pageInfo { hasNextPage endCursor } } }","variables":{"org":"'
    .. org .. '"}}'
end

function request()
  return wrk.format("POST", "/graphql", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

function done(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.3f %.3f %d %d\n",
    summary.requests / (summary.duration / 1000000),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.requests))
end
