#!/usr/bin/env bash
# The aggregator's JSON API over HTTP, on a store holding 7 days of one-minute windows for
# 20 apps x 10 models: the latency a client (curl) sees for each query, JSON included.
#
#   bench/aggregator_api.sh [RUNS=20]
#
# Set-up, not timed: the week's store is made by bench_agg's second phase (6 million events
# through the normal add path; kept in $PHAROS_BENCH_STATE for the next run, as it takes minutes)
# and served by one pharos-aggregator (with a broker on this machine and nothing to consume).
# Timed: each query RUNS times in a row, wall time from curl's request to the last byte.
# Prints p50 and p95 per query, and the p95 over all the interactive ones: the dashboard's views
# and queries at the API's default resolution (at most 300 points per series), group-bys
# included. Exports (7 days at one-minute steps: 10,080 points per series; or every metric of
# twenty grouped series: megabytes of JSON) are timed and reported apart. Needs
# `cmake --build build --target bench_agg pharos-aggregator` (or PHAROS_BUILD_DIR) and
# deploy/setup.sh done.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-20}
build=${PHAROS_BUILD_DIR:-$repo/build}
port=${PHAROS_BENCH_KAFKA_PORT:-49092}
state=${PHAROS_BENCH_STATE:-/tmp/pharos-bench-api}
http_port=${PHAROS_BENCH_HTTP_PORT:-48083}
export PHAROS_KAFKA_PORT=$port PHAROS_KAFKA_STATE_DIR=$state/kafka
brokers=127.0.0.1:$port

cleanup() {
  pkill -TERM -f "pharos-aggregator --brokers=$brokers" 2>/dev/null || true
  sleep 1
  "$repo/deploy/kafka/broker.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

mkdir -p "$state"
store=$state/bench_agg_week.db
if [ ! -f "$store" ]; then
  echo "making the week's store (minutes)..."
  BENCH_AGG_KEEP=1 BENCH_AGG_ONLY=none "$build/lib/agg/bench_agg" 1 "$state" >/dev/null
fi
rm -rf "$state/kafka"
"$repo/deploy/kafka/broker.sh" start >/dev/null

"$build/services/aggregator/pharos-aggregator" --brokers="$brokers" --topic_prefix=bench-api. \
  --db="$store" --http_addr="http://127.0.0.1:$http_port" --emit=false --log_level=warn \
  >"$state/aggregator.log" 2>&1 &
for _ in $(seq 1 600); do
  curl -fs "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

# bench_agg's week: 2023-11-14T00:00Z, 7 days
from=1699920000000
to=$((from + 7 * 86400000))
day=$((to - 86400000))
six=$((to - 6 * 3600000))
range="from=$from&to=$to"
few="metrics=requests,error_rate,latency_p95_ms"

# name | kind (i: interactive, e: export) | path and query
queries=(
  "dashboard 7 d: metrics, step 1h|i|/api/v1/metrics?$range&step=1h"
  "dashboard 7 d: summary|i|/api/v1/summary?$range"
  "dashboard 7 d, app=app3: metrics, step 1h|i|/api/v1/metrics?$range&step=1h&app=app3"
  "dashboard 7 d, app=app3: summary|i|/api/v1/summary?$range&app=app3"
  "dashboard 7 d, app=app3 model=model4: metrics|i|/api/v1/metrics?$range&step=1h&app=app3&model=model4"
  "dashboard 24 h: metrics, step 5m|i|/api/v1/metrics?from=$day&to=$to&step=5m"
  "dashboard 6 h: metrics, step 1m|i|/api/v1/metrics?from=$six&to=$to&step=1m"
  "7 d, step 1h, group by app, 3 metrics|i|/api/v1/metrics?$range&step=1h&group_by=app&$few"
  "7 d, step 1h, group by model, 3 metrics|i|/api/v1/metrics?$range&step=1h&group_by=model&$few"
  "7 d, step 1d, group by app and model|i|/api/v1/metrics?$range&step=1d&group_by=app,model"
  "export: 7 d, step 1h, group by app, every metric|e|/api/v1/metrics?$range&step=1h&group_by=app"
  "export: 7 d, step 1m, app=app3, 3 metrics|e|/api/v1/metrics?$range&step=1m&app=app3&$few"
  "export: 7 d, step 1m, every metric|e|/api/v1/metrics?$range&step=1m"
)

all=$state/interactive.txt
: >"$all"
printf '%-52s %9s %9s %9s\n' query bytes p50_ms p95_ms
for q in "${queries[@]}"; do
  IFS='|' read -r name kind path <<<"$q"
  times=$state/times.txt
  : >"$times"
  bytes=0
  for _ in $(seq 1 "$runs"); do
    out=$(curl -fs -o /dev/null -w '%{size_download} %{time_total}' "http://127.0.0.1:$http_port$path")
    bytes=${out% *}
    echo "${out#* }" >>"$times"
  done
  [ "$kind" = i ] && cat "$times" >>"$all"
  sort -n "$times" | awk -v name="$name" -v bytes="$bytes" '
    { t[NR] = $1 * 1000 }
    END { p95 = int(NR * 0.95); if (p95 < 1) p95 = 1
          printf "%-52s %9d %9.1f %9.1f\n", name, bytes, t[int((NR + 1) / 2)], t[p95] }'
done
sort -n "$all" | awk '{ t[NR] = $1 * 1000 }
  END { p95 = int(NR * 0.95); printf "interactive queries: %d requests, p50 %.1f ms, p95 %.1f ms\n",
        NR, t[int((NR + 1) / 2)], t[p95] }'
