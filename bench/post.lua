-- wrk script: POST one JSON body over and over and check every answer.
--
--   BODY='{"hello":"world"}' EXPECT='"summary":' wrk -s bench/post.lua URL
--
-- BODY    the JSON request body (required)
-- EXPECT  a string every response body must contain (default '"success":true')
-- CHECK_BODY=0  do not look at the answers here: wrk then hands no response to Lua
--         (about 70 µs of wrk's CPU a request less, on the server's own cores);
--         the caller checks the server's own counts instead (bench/workers.sh)
--
-- At the end it prints one machine-readable line for bench/api.sh:
--   RESULT <requests/s> <p50 ms> <p99 ms> <requests> <non-200> <unexpected body> <socket errors>

local body = os.getenv("BODY")
if body == nil or body == "" then
  error("post.lua: set BODY to the JSON request body")
end
local expect = os.getenv("EXPECT") or '"success":true'

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

-- every wrk thread has its own Lua state: keep the threads to add up at the end
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
  unexpected = 0
end

-- (wrk calls response() only when the script defines it)
if os.getenv("CHECK_BODY") ~= "0" then
  function response(status, headers, resp_body)
    if status ~= 200 then
      non200 = non200 + 1
    elseif not string.find(resp_body, expect, 1, true) then
      unexpected = unexpected + 1
    end
  end
end

function done(summary, latency, requests)
  local n200, nbad = 0, 0
  for _, t in ipairs(threads) do
    n200 = n200 + t:get("non200")
    nbad = nbad + t:get("unexpected")
  end
  local e = summary.errors
  if response == nil then
    n200 = e.status  -- (wrk's own count of answers with status 400 and over)
  end
  local socket_errors = e.connect + e.read + e.write + e.timeout
  local rps = summary.requests / (summary.duration / 1e6)
  io.write(string.format("RESULT %.1f %.2f %.2f %d %d %d %d\n",
    rps, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, n200, nbad, socket_errors))
end
