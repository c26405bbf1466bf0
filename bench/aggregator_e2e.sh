#!/usr/bin/env bash
# pharos-aggregator on a backlog of Evaluations, through a real Kafka broker on this machine:
# how many Evaluations per second one aggregator counts (consume, Avro decode, dedup, windows,
# SQLite commits with the offsets), its CPU per Evaluation and its memory.
#
#   bench/aggregator_e2e.sh [RUNS=5] [EVALUATIONS=1000000] [SPREAD_MS=120000]
#
# Set-up, not timed: fresh topics, EVALUATIONS synthetic Evaluations (bench/eval_gen.c: distinct
# record ids, 20 apps x 10 models x 10 evaluators) in pharos.evals, their record times spread
# over the SPREAD_MS before now: 120000 is a live pipeline (inside the allowed lateness); 3600000
# is catching up an hour (closed windows: late data, and dedup keys looked up in SQLite).
# Timed: one pharos-aggregator with a new store and a fresh consumer group, from its start until
# pharos_aggregator_events_total{input="evals"} reaches EVALUATIONS and the store committed them
# (GET /api/v1/summary counts them all). Prints one line per run and the medians. Needs
# `cmake --build build` (or PHAROS_BUILD_DIR) and deploy/setup.sh done.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-5}
total=${2:-1000000}
spread=${3:-120000}
build=${PHAROS_BUILD_DIR:-$repo/build}
port=${PHAROS_BENCH_KAFKA_PORT:-49092}
state=${PHAROS_BENCH_STATE:-/tmp/pharos-bench-agg}
export PHAROS_KAFKA_PORT=$port PHAROS_KAFKA_STATE_DIR=$state/kafka
brokers=127.0.0.1:$port

cleanup() {
  pkill -TERM -f "pharos-aggregator --brokers=$brokers" 2>/dev/null || true
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
kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }

: >"$state/results"
for run in $(seq 1 "$runs"); do
  prefix="bagg$run$RANDOM."
  "$build/cli/pharos" topics create --brokers="$brokers" --topic_prefix="$prefix" >/dev/null 2>&1
  "$build/bench/eval_gen" "$brokers" "${prefix}pharos.evals" "$total" "$spread" >/dev/null
  t0=$(date +%s.%N)
  "$build/services/aggregator/pharos-aggregator" --brokers="$brokers" --topic_prefix="$prefix" \
    --db="$state/agg.$run.db" --http_addr=http://127.0.0.1:18183 --log_level=warn \
    >"$state/aggregator.$run.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do curl -fs http://127.0.0.1:18183/healthz >/dev/null && break; sleep 0.05; done
  until (($(metric 18183 pharos_aggregator_events_total) >= total)); do sleep 0.1; done
  now=$(date +%s)000
  until curl -fs "http://127.0.0.1:18183/api/v1/summary?from=$((now - spread - 3600000))&to=$((now + 60000))&metrics=eval.*" |
    python3 -c 'import json,sys; t=json.load(sys.stdin)["totals"]; sys.exit(0 if sum(v for k,v in t.items() if k.endswith(".count")) >= '"$total"' else 1)'; do
    sleep 0.1
  done
  t1=$(date +%s.%N)
  hwm=$(kb "$pid" VmHWM)
  cpu=$(awk '{ print ($14 + $15) / 100 }' "/proc/$pid/stat")
  kill -TERM "$pid"
  wait "$pid" || true
  secs=$(echo "$t1 - $t0" | bc -l)
  rate=$(echo "$total / $secs" | bc -l)
  percpu=$(echo "$total / $cpu" | bc -l)
  printf 'run %d: %d evaluations in %.2f s: %.0f evaluations/s, aggregator CPU %.1f s (%.0f evaluations per CPU-second), peak RSS %d MiB\n' \
    "$run" "$total" "$secs" "$rate" "$cpu" "$percpu" $((hwm / 1024))
  echo "$rate $percpu $((hwm / 1024))" >>"$state/results"
done

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
col() { cut -d' ' -f"$1" "$state/results" | median; }
printf 'median of %d runs, %d evaluations: %.0f evaluations/s, %.0f evaluations per aggregator CPU-second, peak RSS %s MiB\n' \
  "$runs" "$total" "$(col 1)" "$(col 2)" "$(col 3)"
