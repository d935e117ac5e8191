-- wrk script: stats_summary for many different users, each asked once (uncached).
--
--   USERS=users.txt CREDS='"credentials":{...}' THREADS=2 wrk -t2 -c16 -s bench/sweep.lua URL
--
-- USERS    a file of addresses, one a line; each wrk thread asks for its own share of
--          them, in order, and stops when it has had an answer for each (a connection
--          may have sent a few more by then: those start the share again, cached)
-- CREDS    the "credentials" member of every request
-- THREADS  the number of wrk threads (-t), to split USERS among them
-- BY       the period kind asked for: day (the default), week or month
--
-- wrk waits out its duration (-d) even when every thread has stopped: the requests/s
-- it reports is over that duration, so only the latencies and the count mean something.
--
-- At the end it prints one machine-readable line for bench/scale.sh, as post.lua does:
--   RESULT <requests/s> <p50 ms> <p99 ms> <requests> <non-200> <unexpected body> <socket errors>

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  users = {}
  for line in io.lines(os.getenv("USERS")) do
    users[#users + 1] = line
  end
  creds = os.getenv("CREDS")
  by = os.getenv("BY") or "day"
  share = math.floor(#users / tonumber(os.getenv("THREADS") or "1"))
  sent, got, non200, unexpected = 0, 0, 0, 0
end

function request()
  local user = users[id * share + (sent % share) + 1]
  sent = sent + 1
  local body = string.format('{%s,"type":"user","object":"%s","by":"%s"}', creds, user, by)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  got = got + 1
  if status ~= 200 then
    non200 = non200 + 1
  elseif not string.find(body, '"summary":{', 1, true) then
    unexpected = unexpected + 1
  end
  if got >= share then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local n200, nbad = 0, 0
  for _, t in ipairs(threads) do
    n200 = n200 + t:get("non200")
    nbad = nbad + t:get("unexpected")
  end
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  local rps = summary.requests / (summary.duration / 1e6)
  io.write(string.format("RESULT %.1f %.2f %.2f %d %d %d %d\n",
    rps, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, n200, nbad, socket_errors))
end
