#!/usr/bin/env bash
# End-to-end throughput of HTTP ingest through the validator, everything on this machine:
# a Kafka broker, pharos-ingestor, pharos-validator and the load generator (wrk).
#
#   bench/ingest_e2e.sh [RUNS] [SECONDS] [BATCH] [CONNECTIONS]     defaults: 5 30 100 8
#
# Each run uses fresh topics. wrk POSTs NDJSON bodies of BATCH records from the shared
# llm_logs.jsonl for SECONDS over CONNECTIONS keep-alive connections; every 202 means Kafka
# acknowledged the whole batch. The rate "through validation" is what the validator committed
# (its pharos_validator_records_total counter) between the end of a warm-up and the end of the
# run, divided by that time; the validator's backlog at the end is reported too, so a rate that
# is not sustained shows. Latency percentiles are wrk's, per request. Prints one line per run
# and the medians. Needs a build in build/ (cmake --build build) and deploy/setup.sh done.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-5}
seconds=${2:-30}
batch=${3:-100}
conns=${4:-8}
build=${PHAROS_BUILD_DIR:-$repo/build}
data=${PHAROS_DATA_DIR:-$repo/../shared/data}
port=${PHAROS_BENCH_KAFKA_PORT:-49092}
state=${PHAROS_BENCH_STATE:-/tmp/pharos-bench}
warmup=5
export PHAROS_KAFKA_PORT=$port PHAROS_KAFKA_STATE_DIR=$state/kafka
brokers=127.0.0.1:$port

cleanup() {
  pkill -TERM -f "pharos-(ingestor|validator) --brokers=$brokers" 2>/dev/null || true
  sleep 1
  "$repo/deploy/kafka/broker.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

rm -rf "$state"
mkdir -p "$state"
"$repo/deploy/kafka/broker.sh" start

metric() { # port name -> sum of the samples
  curl -fs "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 ~ "^"n"({|$)" { s += $2 } END { print s + 0 }'
}

results=()
for run in $(seq 1 "$runs"); do
  prefix="bench$run.$RANDOM."
  "$build/cli/pharos" topics create --brokers="$brokers" --topic_prefix="$prefix" >/dev/null 2>&1
  "$build/services/ingestor/pharos-ingestor" --brokers="$brokers" --topic_prefix="$prefix" \
    --http_addr=http://127.0.0.1:18080 --log_level=warn >"$state/ingestor.$run.log" 2>&1 &
  "$build/services/validator/pharos-validator" --brokers="$brokers" --topic_prefix="$prefix" \
    --http_addr=http://127.0.0.1:18081 --log_level=warn >"$state/validator.$run.log" 2>&1 &
  for _ in $(seq 1 100); do
    curl -fs http://127.0.0.1:18080/healthz >/dev/null && curl -fs http://127.0.0.1:18081/healthz >/dev/null && break
    sleep 0.1
  done
  wrk -t1 -c"$conns" -d"${seconds}s" --latency -s "$repo/bench/wrk_ndjson.lua" \
    http://127.0.0.1:18080 -- "$data/llm_logs.jsonl" "$batch" >"$state/wrk.$run.log" 2>&1 &
  wrk_pid=$!
  sleep "$warmup"
  v0=$(metric 18081 pharos_validator_records_total)
  i0=$(metric 18080 pharos_ingest_records_total)
  t0=$(date +%s.%N)
  wait "$wrk_pid"
  t1=$(date +%s.%N)
  v1=$(metric 18081 pharos_validator_records_total)
  i1=$(metric 18080 pharos_ingest_records_total)
  line=$(grep '^BENCH' "$state/wrk.$run.log")
  eval "$(sed 's/^BENCH //' <<<"$line")"
  ingest_rate=$(echo "($i1 - $i0) / ($t1 - $t0)" | bc -l)
  valid_rate=$(echo "($v1 - $v0) / ($t1 - $t0)" | bc -l)
  backlog=$(echo "$i1 - $v1" | bc)
  printf 'run %d: ingested %.0f rec/s, validated %.0f rec/s, backlog at end %d records, request p50 %s ms p99 %s ms (%d requests, %d non-2xx)\n' \
    "$run" "$ingest_rate" "$valid_rate" "$backlog" "$p50_ms" "$p99_ms" "$requests" "$status_errors"
  results+=("$valid_rate $ingest_rate $p50_ms $p99_ms")
  pkill -TERM -f "pharos-(ingestor|validator) --brokers=$brokers" || true
  wait 2>/dev/null || true
done

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
printf '%s\n' "${results[@]}" >"$state/results"
echo "median of $runs runs: validated $(cut -d' ' -f1 "$state/results" | median | xargs printf '%.0f') rec/s," \
  "ingested $(cut -d' ' -f2 "$state/results" | median | xargs printf '%.0f') rec/s," \
  "request p50 $(cut -d' ' -f3 "$state/results" | median) ms, p99 $(cut -d' ' -f4 "$state/results" | median) ms" \
  "(batch $batch, $conns connections, ${seconds}s)"
