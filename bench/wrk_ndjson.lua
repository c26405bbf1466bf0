-- wrk script: POSTs NDJSON bodies of BATCH records taken in turn from a JSONL file, optionally
-- paced to RATE records/s in all (0: as fast as the connections go).
--   wrk -s bench/wrk_ndjson.lua URL -- FILE BATCH [RATE CONNECTIONS]
local bodies = {}
local n = 0
local pause_ms = 0

function init(args)
  local file, batch = args[1], tonumber(args[2] or "100")
  local cur, count = {}, 0
  for line in io.lines(file) do
    if #line > 0 then
      cur[#cur + 1] = line
      if #cur == batch then
        bodies[#bodies + 1] = table.concat(cur, "\n") .. "\n"
        cur = {}
      end
    end
  end
  if #cur > 0 then bodies[#bodies + 1] = table.concat(cur, "\n") .. "\n" end
  n = math.random(#bodies)
  local rate, conns = tonumber(args[3] or "0"), tonumber(args[4] or "1")
  if rate > 0 then
    -- each connection sends one request per pause: conns * batch / pause = rate
    pause_ms = conns * batch * 1000 / rate
  end
end

function delay()
  return pause_ms
end

function request()
  n = n % #bodies + 1
  return wrk.format("POST", "/v1/logs", {["Content-Type"] = "application/x-ndjson"}, bodies[n])
end

function done(summary, latency, requests)
  local errs = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d status_errors=%d connect_errors=%d " ..
    "timeouts=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    summary.requests, summary.duration, errs.status, errs.connect, errs.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
