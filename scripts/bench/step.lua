-- wrk script of the load benchmark (scripts/bench-load): every request is a step submission
-- (POST /cases/{id}/steps/matter with the CSRF token, the case's current revision and the
-- sample answers). Each wrk thread owns its own cases, at least one more than it has
-- connections, so no two requests in flight touch the same case and no write is stale: a 303
-- bumps the case's revision and hands it back. Anything else is counted as an error.
-- The cases file is written by scripts/bench/setup.mjs (or by scripts/bench-load for the bare
-- handler); its path comes in the environment variable BENCH_CASES.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("index", counter)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(os.getenv("BENCH_CASES"), "r"))
  cookie = file:read("*l")
  csrf = file:read("*l")
  body = file:read("*l")
  local all = {}
  for line in file:lines() do
    local id, rev = line:match("^(%S+) (%d+)$")
    if id then table.insert(all, { id = id, rev = tonumber(rev) }) end
  end
  file:close()
  local n = tonumber(os.getenv("BENCH_THREADS"))
  ready, by_id = {}, {}
  for i, c in ipairs(all) do
    if (i - 1) % n == index - 1 then
      table.insert(ready, c)
      by_id[c.id] = c
    end
  end
  bad = 0
end

function request()
  local c = table.remove(ready)
  if c == nil then
    -- Cannot happen with more cases than connections per thread; fail loudly if it does.
    error("no free case in this thread: give the benchmark more cases")
  end
  local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  if cookie ~= "none" then headers["Cookie"] = cookie end
  local form = "_csrf=" .. csrf .. "&_revision=" .. c.rev .. "&" .. body
  return wrk.format("POST", "/cases/" .. c.id .. "/steps/matter", headers, form)
end

function response(status, headers, body)
  local location = headers["Location"] or headers["location"] or ""
  local id = location:match("^/cases/([^/]+)/")
  local c = id and by_id[id]
  if status == 303 and c then
    c.rev = c.rev + 1
    table.insert(ready, c)
  else
    bad = bad + 1
    -- A refused write leaves the revision as it was; find the case from the page's form.
    local page_id = body and body:match('action="/cases/([^/"]+)/steps/')
    local rev = body and body:match('name="_revision" value="(%d+)"')
    local p = page_id and by_id[page_id]
    if p and rev then
      p.rev = tonumber(rev)
      table.insert(ready, p)
    end
  end
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f requests=%d errors=%d non3xx=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, errors, summary.errors.status))
end
