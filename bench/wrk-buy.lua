-- wrk script for the bench suite's wrk cross-check (bench/wrk-load.ts): the same buys as the
-- autocannon generator (POST to the buy path, empty body, content-length 0,
-- one Authorization header per user, rotating over the token pool), from a
-- generator written in C, to cross-check numbers that autocannon, one
-- JavaScript thread, may cap.
--
-- Usage: wrk -t1 -c100 -d10s -s bench/wrk-buy.lua URL -- TOKENS_FILE [keyed PREFIX]
-- TOKENS_FILE holds one user token per line. Every request is built once in
-- init(), so rotating costs the generator nothing per request. done() prints
-- one JSON line starting with {"wrk": for the benchmark to read.
-- With `keyed PREFIX` every request carries an Idempotency-Key of its own,
-- PREFIX-<thread>-<count>, and is built per request instead (one
-- wrk.format per buy, the cost of a client that sends keys).

local requests = {}
local tokens = {}
local next_index = 1
local keyed = false
local key_prefix = ""
local key_count = 0

-- Runs in the main Lua state once per thread: each thread's keys get its number.
local threads_set_up = 0
function setup(thread)
  thread:set("thread_number", threads_set_up)
  threads_set_up = threads_set_up + 1
end

-- Bounds the pool read from the file, so a wrong path cannot eat memory.
local TOKENS_MAX = 1000000

function init(args)
  local file = assert(io.open(args[1], "r"), "cannot open the tokens file " .. tostring(args[1]))
  for token in file:lines() do
    if token ~= "" then
      tokens[#tokens + 1] = token
      requests[#requests + 1] = wrk.format("POST", wrk.path, { ["Authorization"] = "Bearer " .. token, ["Content-Length"] = "0" }, nil)
      assert(#requests <= TOKENS_MAX, "more than " .. TOKENS_MAX .. " tokens")
    end
  end
  file:close()
  assert(#requests > 0, "the tokens file is empty")
  if args[2] == "keyed" then
    keyed = true
    key_prefix = assert(args[3], "keyed needs a PREFIX") .. "-" .. tostring(thread_number or 0) .. "-"
  end
end

function request()
  local index = next_index
  next_index = next_index % #requests + 1
  if not keyed then return requests[index] end
  key_count = key_count + 1
  return wrk.format("POST", wrk.path, { ["Authorization"] = "Bearer " .. tokens[index], ["Content-Length"] = "0",
    ["Idempotency-Key"] = key_prefix .. key_count }, nil)
end

-- Latencies are in microseconds, the duration too.
function done(summary, latency, requests_per_second)
  local errors = summary.errors
  io.write(string.format(
    '{"wrk":1,"requests":%d,"durationUs":%d,"bytes":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"statusErrors":%d,"timeouts":%d,'
      .. '"latencyP50Us":%d,"latencyP90Us":%d,"latencyP99Us":%d,"latencyP999Us":%d,"latencyMeanUs":%.1f,"latencyMaxUs":%d}\n',
    summary.requests, summary.duration, summary.bytes, errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.mean, latency.max))
end
