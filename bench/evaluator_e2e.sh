#!/usr/bin/env bash
# pharos-evaluator (role cheap) on a backlog, everything on this machine: how fast one process
# evaluates pharos.logs.valid into pharos.evals through a real Kafka broker, and its memory.
#
#   bench/evaluator_e2e.sh [RUNS=5] [COPIES=5] [WORKERS=2]
#
# Set-up, not timed: fresh topics, the shared llm_logs.jsonl produced COPIES times to
# pharos.logs.raw (`pharos send --kafka`), pharos-validator run until every record is in
# pharos.logs.valid, then stopped. Timed: one pharos-evaluator with a fresh consumer group and
# WORKERS threads, from its start to the moment pharos_evaluator_records_total (records whose
# every Evaluation Kafka acknowledged) reaches the backlog; the broker runs on the same two
# cores. Memory: the evaluator's peak RSS (VmHWM) and its RSS at the end of the backlog. Prints
# one line per run and the medians. Needs `cmake --build build` (or PHAROS_BUILD_DIR) and
# deploy/setup.sh done; PHAROS_BENCH_EVALUATOR_FLAGS adds flags to the evaluator.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-5}
copies=${2:-5}
workers=${3:-2}
build=${PHAROS_BUILD_DIR:-$repo/build}
data=${PHAROS_DATA_DIR:-$repo/../shared/data}
port=${PHAROS_BENCH_KAFKA_PORT:-49092}
state=${PHAROS_BENCH_STATE:-/tmp/pharos-bench-eval}
export PHAROS_KAFKA_PORT=$port PHAROS_KAFKA_STATE_DIR=$state/kafka
brokers=127.0.0.1:$port
services="pharos-(validator|evaluator) --brokers=$brokers"

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
wait_healthy() {
  for _ in $(seq 1 200); do
    curl -fs "http://127.0.0.1:$1/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "service on port $1 did not start" >&2
  return 1
}
kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }

lines=$(wc -l <"$data/llm_logs.jsonl")
total=$((lines * copies))
: >"$state/results"
for run in $(seq 1 "$runs"); do
  prefix="beval$run$RANDOM."
  "$build/cli/pharos" topics create --brokers="$brokers" --topic_prefix="$prefix" >/dev/null 2>&1
  for _ in $(seq 1 "$copies"); do
    "$build/cli/pharos" send "$data/llm_logs.jsonl" --kafka --brokers="$brokers" \
      --topic_prefix="$prefix" >/dev/null 2>&1
  done
  "$build/services/validator/pharos-validator" --brokers="$brokers" --topic_prefix="$prefix" \
    --http_addr=http://127.0.0.1:18181 --log_level=warn >"$state/validator.$run.log" 2>&1 &
  wait_healthy 18181
  until (($(metric 18181 pharos_validator_records_total) >= total)); do sleep 0.5; done
  pkill -TERM -f "pharos-validator --brokers=$brokers" || true
  while pgrep -f "pharos-validator --brokers=$brokers" >/dev/null; do sleep 0.2; done

  t0=$(date +%s.%N)
  "$build/services/evaluator/pharos-evaluator" --brokers="$brokers" --topic_prefix="$prefix" \
    --group_id="${prefix}evaluator" --http_addr=http://127.0.0.1:18182 --log_level=warn \
    --workers="$workers" ${PHAROS_BENCH_EVALUATOR_FLAGS:-} >"$state/evaluator.$run.log" 2>&1 &
  pid=$!
  wait_healthy 18182
  until (($(metric 18182 pharos_evaluator_records_total) >= total)); do sleep 0.1; done
  t1=$(date +%s.%N)
  hwm=$(kb "$pid" VmHWM)
  rss=$(kb "$pid" VmRSS)
  evals=$(metric 18182 pharos_evaluator_evaluations_total)
  cpu=$(awk '{ print ($14 + $15) / 100 }' "/proc/$pid/stat")
  kill -TERM "$pid"
  wait "$pid" || true
  secs=$(echo "$t1 - $t0" | bc -l)
  rate=$(echo "$total / $secs" | bc -l)
  printf 'run %d: %d records (%d evaluations) in %.2f s: %.0f records/s with %d workers, evaluator CPU %.1f s (%.0f records per CPU-second), peak RSS %d MiB, RSS at the end %d MiB\n' \
    "$run" "$total" "$evals" "$secs" "$rate" "$workers" "$cpu" "$(echo "$total / $cpu" | bc -l)" \
    $((hwm / 1024)) $((rss / 1024))
  echo "$rate $(echo "$total / $cpu" | bc -l) $((hwm / 1024)) $((rss / 1024))" >>"$state/results"
done

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
col() { cut -d' ' -f"$1" "$state/results" | median; }
printf 'median of %d runs, %d records, %d workers: %.0f records/s, %.0f records per evaluator CPU-second, peak RSS %s MiB, RSS at the end %s MiB\n' \
  "$runs" "$total" "$workers" "$(col 1)" "$(col 2)" "$(col 3)" "$(col 4)"
