-- wrk script for bench_sdk.py: sends one fixed request and checks every reply.
--
-- Configured by environment variables (set by bench_sdk.py, one target at a time):
--   WRK_PATH     request path ("/call" or "/mcp")
--   WRK_BODY     request body (JSON)
--   WRK_HEADERS  request headers, one "Name: value" per line
--   WRK_EXPECT   substrings the reply body must contain, one per line, compared after all
--                whitespace is removed from the body (so `{"a": 1}` and `{"a":1}` both match)
--
-- A reply counts as a call only if its status is 200, its body is a JSON object (not an SSE
-- stream) and it contains every expected substring. Anything else is counted as "bad"; done()
-- prints the counts on lines starting with "wrk-result" for bench_sdk.py to read.

local function lines(text)
  local out = {}
  for line in string.gmatch(text or "", "[^\n]+") do
    table.insert(out, line)
  end
  return out
end

wrk.method = "POST"
wrk.path = os.getenv("WRK_PATH") or "/"
wrk.body = os.getenv("WRK_BODY") or ""
for _, line in ipairs(lines(os.getenv("WRK_HEADERS"))) do
  local name, value = string.match(line, "^([^:]+):%s*(.*)$")
  if name then
    wrk.headers[name] = value
  end
end
local expect = lines(os.getenv("WRK_EXPECT"))

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  good = 0
  bad = 0
  bad_sample = ""
end

local function problem(status, body)
  if status ~= 200 then
    return "HTTP " .. status
  end
  local flat = string.gsub(body or "", "%s+", "")
  if string.sub(flat, 1, 1) ~= "{" then
    return "not a JSON object"
  end
  for _, needle in ipairs(expect) do
    if not string.find(flat, needle, 1, true) then
      return "missing " .. needle
    end
  end
  return nil
end

function response(status, headers, body)
  local why = problem(status, body)
  if why == nil then
    good = good + 1
  else
    bad = bad + 1
    if bad_sample == "" then
      bad_sample = why .. ": " .. string.sub(body or "", 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local good_total, bad_total, sample = 0, 0, ""
  for _, thread in ipairs(threads) do
    good_total = good_total + thread:get("good")
    bad_total = bad_total + thread:get("bad")
    local s = thread:get("bad_sample")
    if sample == "" and s ~= nil then
      sample = s
    end
  end
  local e = summary.errors
  local out = {
    good = good_total,
    bad = bad_total,
    requests = summary.requests,
    duration_us = summary.duration,
    socket_errors = e.connect + e.read + e.write + e.timeout,
    p50_us = latency:percentile(50),
    p99_us = latency:percentile(99),
    mean_us = latency.mean,
  }
  for key, value in pairs(out) do
    io.write(string.format("wrk-result %s %s\n", key, tostring(value)))
  end
  io.write("wrk-result bad_sample " .. string.gsub(sample, "[\r\n]", " ") .. "\n")
end
