#!/usr/bin/env bash
# End-to-end throughput of HTTP ingest through the validator, everything on this machine:
# a Kafka broker, pharos-ingestor, pharos-validator and the load generator (bench/loadgen.c).
#
#   bench/ingest_e2e.sh [RUNS=5] [SECONDS=30] [RATE=20000] [BATCH=100]
#
# Each run uses fresh topics and a fresh consumer group. loadgen POSTs NDJSON bodies of BATCH
# records from the shared llm_logs.jsonl at RATE records/s (open loop: a request goes out when
# it is due, answered or not), for SECONDS; every 202 means Kafka acknowledged the whole batch.
# "validated" is what the validator committed (pharos_validator_records_total) from the end of a
# 5 s warm-up to the end of the load, per second; "lag" is how long after the load ended the
# validator needed to commit the last accepted record. A rate is sustained when every request
# got 202, the validated rate matches the offered one and the lag stays around a second (the
# transaction interval), i.e. no backlog builds up. Latencies are per request, from the time it
# was due. Prints one line per run and the medians. Needs `cmake --build build` (or
# PHAROS_BUILD_DIR) and deploy/setup.sh done. PHAROS_BENCH_INGESTOR_FLAGS and
# PHAROS_BENCH_VALIDATOR_FLAGS add flags to the services (e.g. --kafka.linger.ms=20).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-5}
seconds=${2:-30}
rate=${3:-20000}
batch=${4:-100}
build=${PHAROS_BUILD_DIR:-$repo/build}
data=${PHAROS_DATA_DIR:-$repo/../shared/data}
port=${PHAROS_BENCH_KAFKA_PORT:-49092}
state=${PHAROS_BENCH_STATE:-/tmp/pharos-bench}
warmup=5
export PHAROS_KAFKA_PORT=$port PHAROS_KAFKA_STATE_DIR=$state/kafka
brokers=127.0.0.1:$port
services="pharos-(ingestor|validator) --brokers=$brokers"

cleanup() {
  pkill -TERM -f "$services" 2>/dev/null || true
  sleep 1
  "$repo/deploy/kafka/broker.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

rm -rf "$state"
mkdir -p "$state"
"$repo/deploy/kafka/broker.sh" start

metric() { # port name -> sum of its samples
  curl -fs "http://127.0.0.1:$1/metrics" |
    awk -v n="$2" '$1 ~ "^"n"({|$)" { s += $2 } END { printf "%d\n", s }'
}

: >"$state/results"
for run in $(seq 1 "$runs"); do
  prefix="bench$run$RANDOM."
  "$build/cli/pharos" topics create --brokers="$brokers" --topic_prefix="$prefix" >/dev/null 2>&1
  "$build/services/ingestor/pharos-ingestor" --brokers="$brokers" --topic_prefix="$prefix" \
    --http_addr=http://127.0.0.1:18080 --log_level=warn ${PHAROS_BENCH_INGESTOR_FLAGS:-} \
    >"$state/ingestor.$run.log" 2>&1 &
  "$build/services/validator/pharos-validator" --brokers="$brokers" --topic_prefix="$prefix" \
    --group_id="${prefix}validator" --http_addr=http://127.0.0.1:18081 --log_level=warn \
    ${PHAROS_BENCH_VALIDATOR_FLAGS:-} >"$state/validator.$run.log" 2>&1 &
  for _ in $(seq 1 100); do
    curl -fs http://127.0.0.1:18080/healthz >/dev/null &&
      curl -fs http://127.0.0.1:18081/healthz >/dev/null && break
    sleep 0.1
  done
  "$build/bench/loadgen" http://127.0.0.1:18080/v1/logs "$data/llm_logs.jsonl" "$rate" \
    "$seconds" "$batch" >"$state/loadgen.$run.log" 2>&1 &
  load_pid=$!
  sleep "$warmup"
  v0=$(metric 18081 pharos_validator_records_total)
  t0=$(date +%s.%N)
  wait "$load_pid" || true
  t1=$(date +%s.%N)
  v1=$(metric 18081 pharos_validator_records_total)
  accepted=$(metric 18080 pharos_ingest_records_total)
  # how long until the validator has committed everything that was accepted
  lag=-1
  for i in $(seq 0 600); do
    if (($(metric 18081 pharos_validator_records_total) >= accepted)); then
      lag=$(echo "$(date +%s.%N) - $t1" | bc)
      break
    fi
    sleep 0.1
  done
  eval "$(grep '^LOADGEN' "$state/loadgen.$run.log" | sed 's/^LOADGEN //; s/rate=/rate_achieved=/')"
  validated=$(echo "($v1 - $v0) / ($t1 - $t0)" | bc -l)
  printf 'run %d: offered %d rec/s, acknowledged %s rec/s (%d requests, %d non-2xx, %d errors, %d late), validated %.0f rec/s, lag after load %.1f s, request latency p50 %s ms p90 %s ms p99 %s ms max %s ms\n' \
    "$run" "$rate" "${rate_achieved}" "$sent" "$non2xx" "$errors" "$late" "$validated" "$lag" \
    "$p50_ms" "$p90_ms" "$p99_ms" "$max_ms"
  echo "$validated $lag $p50_ms $p99_ms $rate" >>"$state/results"
  pkill -TERM -f "$services" || true
  while pgrep -f "$services" >/dev/null; do sleep 0.2; done
done

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
col() { cut -d' ' -f"$1" "$state/results" | median; }
printf 'median of %d runs at %d rec/s offered (batch %d, %d s): validated %.0f rec/s, lag %.1f s, request p50 %s ms, p99 %s ms\n' \
  "$runs" "$rate" "$batch" "$seconds" "$(col 1)" "$(col 2)" "$(col 3)" "$(col 4)"
