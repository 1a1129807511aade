-- wrk script: refresh-token rotation over HTTP, in chains. Each chain's next request uses the
-- refresh token its previous answer gave; each thread keeps its own chains.
--   WRK_CHAINS  a file: the client's Authorization header value, then one refresh token per line
--               (`authsec bench --op refresh --chains N --chains-out FILE` writes it)
-- Needs at least as many chains as connections. Prints one RESULT line (as form_post.lua does);
-- any non-2xx answer counts as an error, and ends its chain.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(os.getenv("WRK_CHAINS"), "r"))
  auth = file:read("*l")
  local all = {}
  for line in file:lines() do if line ~= "" then table.insert(all, line) end end
  file:close()
  free = {}
  local count = tonumber(os.getenv("WRK_THREADS") or "2")
  for i = index + 1, #all, count do table.insert(free, all[i]) end
end

function request()
  local token = table.remove(free) or "no-free-chain"
  return wrk.format("POST", "/oauth/token",
    { ["Authorization"] = auth, ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then table.insert(free, token) end
end

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_s=%.2f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f http_err=%d sock_err=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end
