#!/usr/bin/env bash
# The main job end to end on one machine (as root on a fresh Debian 12): installs what is
# missing, builds, starts a local Kafka broker, creates the topics, starts pharos-ingestor,
# pharos-validator, pharos-evaluator and pharos-aggregator, sends the shared sample logs through
# HTTP and prints how many went where, what the evaluators found and where the dashboard is.
# The broker and services keep running afterwards; `deploy/demo.sh stop` stops them.
#
#   deploy/demo.sh [FILE.jsonl]     default: $PHAROS_DATA_DIR/llm_logs.jsonl
#   deploy/demo.sh stop
#
# Ports: Kafka 9092, ingestor 8080, validator 8081, evaluator 8082 (health and metrics),
# aggregator 8083 (the dashboard and the JSON API). State, logs, pid files and the SQLite files
# live in state/ at the top of the repository.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
state=$repo/state
build=${PHAROS_DEMO_BUILD_DIR:-$repo/build}
data=${PHAROS_DATA_DIR:-$repo/../shared/data}
export PHAROS_KAFKA_PORT=${PHAROS_KAFKA_PORT:-9092}
export PHAROS_KAFKA_STATE_DIR=$state/kafka
brokers=127.0.0.1:$PHAROS_KAFKA_PORT
say() { printf 'demo: %s\n' "$*"; }

stop_services() {
  for svc in aggregator evaluator ingestor validator; do
    pidfile=$state/$svc.pid
    if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      say "stopping pharos-$svc (drains first)"
      kill -TERM "$(cat "$pidfile")"
      for _ in $(seq 1 300); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile"
  done
}

if [[ "${1:-}" == stop ]]; then
  stop_services
  deploy/kafka/broker.sh stop
  exit 0
fi
file=${1:-$data/llm_logs.jsonl}
[[ -r $file ]] || { echo "demo: cannot read $file (set PHAROS_DATA_DIR)" >&2; exit 1; }

deploy/setup.sh
say "building into $build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)"

mkdir -p "$state/logs"
deploy/kafka/broker.sh start
"$build/cli/pharos" topics create --brokers="$brokers"

stop_services
start() { # name port [flags...]
  local svc=$1 port=$2
  shift 2
  nohup "$build/services/$svc/pharos-$svc" --brokers="$brokers" \
    --http_addr="http://127.0.0.1:$port" "$@" >>"$state/logs/$svc.log" 2>&1 &
  echo $! >"$state/$svc.pid"
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && { say "pharos-$svc up on :$port"; return; }
    kill -0 "$(cat "$state/$svc.pid")" 2>/dev/null || break
    sleep 0.2
  done
  echo "demo: pharos-$svc did not start; see $state/logs/$svc.log" >&2
  tail -20 "$state/logs/$svc.log" >&2
  exit 1
}
start ingestor 8080
start validator 8081
start evaluator 8082 --sessions_db="$state/sessions.db" --instance=demo
start aggregator 8083 --db="$state/aggregator.db"

metric() { # name labels -> value (0 when absent)
  curl -fs "http://127.0.0.1:$2/metrics" |
    awk -v n="$1" -v l="$3" '$1 == n l { v = $2 } END { print v + 0 }'
}

say "sending $file to the ingestor"
out=$("$build/cli/pharos" send "$file" --url=http://127.0.0.1:8080)
accepted=$(sed -n 's/.*accepted=\([0-9]*\).*/\1/p' <<<"$out")
rejected=$(sed -n 's/.*rejected=\([0-9]*\).*/\1/p' <<<"$out")

# A few broken records, produced straight to Kafka as any client may, show the invalid route.
examples=$repo/deploy/examples/bad_logs.jsonl
"$build/cli/pharos" send "$examples" --kafka --brokers="$brokers" >/dev/null
total=$((accepted + $(grep -c . "$examples")))
say "waiting for the validator to judge $total records"
for _ in $(seq 1 120); do
  valid=$(metric pharos_validator_records_total 8081 '{result="valid"}')
  invalid=$(metric pharos_validator_records_total 8081 '{result="invalid"}')
  (( valid + invalid >= total )) && break
  sleep 0.5
done

echo
echo "Pharos demo: $(wc -l <"$file") lines from $file"
echo "  accepted by the ingestor (acknowledged by Kafka): $accepted"
echo "  refused by the ingestor:                          $rejected"
echo "  plus $(grep -c . "$examples") broken examples from deploy/examples/bad_logs.jsonl, produced straight to Kafka"
echo "  -> pharos.logs.valid   (evaluable LlmLog):        $valid"
echo "  -> pharos.logs.invalid (with every reason):       $invalid"
echo
echo "Why the broken ones were rejected (reason codes of this run's invalid records):"
"$build/cli/pharos" tail invalid --from_beginning --until_end --brokers="$brokers" |
  python3 -c '
import json, sys
recs = [json.loads(l) for l in sys.stdin if l.strip()]
for r in recs[-20:]:
    print("  %-40s %s" % (r["record_id"][:40], ", ".join(sorted({x["code"] for x in r["reasons"]}))))
'
say "waiting for the evaluator and the aggregator"
for _ in $(seq 1 600); do
  evaluated=$(metric pharos_evaluator_records_total 8082 '{result="evaluated"}')
  (( evaluated >= valid )) && break
  sleep 0.5
done
sleep 2 # the aggregator's next commit
echo
echo "Evaluated: $evaluated records. Totals of the last 24 hours, from the aggregator's API:"
now=$(date +%s)000
curl -fs "http://127.0.0.1:8083/api/v1/summary?from=$((now - 86400000))&to=$((now + 60000))" |
  python3 -c '
import json, sys
t = json.load(sys.stdin)["totals"]
def show(name, label):
    if name in t:
        print("  %-44s %s" % (label, round(t[name], 4)))
show("requests", "requests")
show("error_rate", "error rate")
show("latency_p95_ms", "latency p95 (ms)")
show("invalid_rate", "share of invalid records")
for k in sorted(t):
    if k.startswith("eval.") and (k.endswith(".pass_rate") or k.endswith(".mean_score")):
        show(k, k)
'
echo
echo "Dashboard:     http://127.0.0.1:8083/"
echo "Look at them:  $build/cli/pharos tail valid --from_beginning --max=3"
echo "               $build/cli/pharos tail invalid --from_beginning --until_end"
echo "               $build/cli/pharos tail evals --from_beginning --max=5"
echo "Metrics:       curl -s http://127.0.0.1:8080/metrics (8081 validator, 8082 evaluator, 8083 aggregator)"
echo "Stop:          deploy/demo.sh stop"
