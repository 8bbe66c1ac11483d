-- wrk script: verifies a random key of the seeded set, each request in one of the three
-- header styles. Arguments: the file of secrets, one per line; then "post" to use
-- POST /api/v1/keys/verify with a required permission instead, or "static" for the
-- baseline: the same requests, built the same way, sent to GET /health, so that the
-- client's own cost (this script) is the same on both sides of the ratio; or "sequential"
-- to go through the keys in order (to warm a set of keys).
local keys = {}
local post = false
local path = "/api/v1/api-keys/verify"
local sequential = false
local next_key = 0

function init(args)
  for line in io.lines(args[1]) do
    keys[#keys + 1] = line
  end
  post = args[2] == "post"
  if args[2] == "static" then
    path = "/health"
  end
  sequential = args[2] == "sequential"
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000))
end

function request()
  local key
  if sequential then
    next_key = next_key % #keys + 1
    key = keys[next_key]
  else
    key = keys[math.random(#keys)]
  end
  if post then
    local body = '{"key":"' .. key .. '","require":["api_keys:read"]}'
    return wrk.format("POST", "/api/v1/keys/verify", { ["Content-Type"] = "application/json" }, body)
  end
  local style = math.random(3)
  local headers = {}
  if style == 1 then
    headers["Authorization"] = "Bearer " .. key
  elseif style == 2 then
    headers["Authorization"] = "ApiKey " .. key
  else
    headers["X-API-Key"] = key
  end
  return wrk.format("GET", path, headers)
end

dofile("scripts/bench/report.lua")
