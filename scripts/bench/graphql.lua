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

dofile("scripts/bench/report.lua")
