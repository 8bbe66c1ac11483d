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
  -- The dashboard's own query (frontend/queries/dashboard.graphql), its first page.
  body = '{"query":"query ApiKeys($organizationId: ID!, $projectId: ID, $status: CredentialStatus, $search: String, $createdById: ID, $orderBy: KeyOrder, $first: Int, $after: String) { apiKeys(organizationId: $organizationId, projectId: $projectId, status: $status, search: $search, createdById: $createdById, orderBy: $orderBy, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { id name prefix status createdAt expiresAt expiresSoon lastUsedAt requestCount environment scopes project { id name } createdBy { email } replaces { id name prefix } replacedBy { id name prefix } rotationEndsAt } } }","operationName":"ApiKeys",'
    .. '"variables":{"organizationId":"' .. org .. '","orderBy":"NEWEST","first":50}}'
end

function request()
  return wrk.format("POST", "/graphql", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

dofile("scripts/bench/report.lua")
