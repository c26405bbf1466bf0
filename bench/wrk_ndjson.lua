-- wrk script: POSTs NDJSON bodies of BATCH records taken in turn from a JSONL file.
--   wrk -s bench/wrk_ndjson.lua URL -- FILE BATCH
local bodies = {}
local n = 0

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
