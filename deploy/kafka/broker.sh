#!/usr/bin/env bash
# A local single-node Apache Kafka broker (KRaft: one process is broker and controller) for
# tests, the demo and local runs. Several can run at once on different ports and state dirs.
#
#   deploy/kafka/broker.sh [OPTIONS] start | stop | status | restart
#   deploy/kafka/broker.sh [OPTIONS] topics ARGS...      TopicCommand against this broker, e.g.
#                                    topics --create --topic=t --partitions=3
#   deploy/kafka/broker.sh [OPTIONS] tool CLASS ARGS...  any Kafka tool class, e.g.
#                                    org.apache.kafka.tools.consumer.group.ConsumerGroupCommand
#   deploy/kafka/broker.sh [OPTIONS] make-cds            build the class-data-sharing archive
#
# Options (each also read from the environment; a flag wins):
#   --port=N             PHAROS_KAFKA_PORT             9092
#   --controller-port=N  PHAROS_KAFKA_CONTROLLER_PORT  port + 1
#   --state-dir=DIR      PHAROS_KAFKA_STATE_DIR        <repo>/state/kafka
#   --libs=DIR           PHAROS_KAFKA_LIBS             /opt/pharos/kafka-<version>/libs
#                        (the default folder is fetched with mvn when missing or stale)
#   --heap=OPTS          PHAROS_KAFKA_HEAP_OPTS        "-Xmx512m -Xms128m"
#   --jvm-opts=OPTS      PHAROS_KAFKA_JVM_OPTS         "-XX:+UseSerialGC
#                                                       -XX:+ExitOnOutOfMemoryError"
#   --timeout=S          PHAROS_KAFKA_START_TIMEOUT    90  (start: seconds to wait for metadata)
#   --stop-timeout=S     PHAROS_KAFKA_STOP_TIMEOUT     60  (stop: SIGTERM, then SIGKILL)
#   --log-level=L        PHAROS_KAFKA_LOG_LEVEL        warn (broker.log; info to debug the broker)
#   --set=KEY=VALUE      PHAROS_KAFKA_PROPS            extra server.properties lines; --set may
#                        repeat, the variable holds KEY=VALUE pairs separated by spaces; later wins
#
# start   formats the storage on first use, starts the broker in the background and returns 0
#         only once it answers a metadata request (kcat -L); otherwise prints the log tail,
#         stops what it started and returns 1. Returns 0 at once if it is already up.
# stop    SIGTERM, waits, SIGKILL after the stop timeout; 0 also when nothing was running.
# status  0 when the broker answers a metadata request, 1 otherwise.
#
# Everything lives in the state dir: server.properties, log4j2.properties, data/ (the KRaft
# log and topic data), broker.log (WARN and up), console.log (JVM stdout/stderr), broker.pid.
# Deleting the folder (broker stopped) starts the next run from scratch.
#
# make-cds starts and stops a throwaway broker to record the classes it loads into
# <libs>/../kafka-cds.jsa (JDK 17 dynamic AppCDS); deploy/setup.sh runs it once. Brokers and
# tools then map those classes instead of loading them from the jars: a first start (format
# included) drops from ~6 s to ~3.5 s, a restart from ~4.5 s to ~2.7 s, a TopicCommand run
# from 1.7 s to 1 s (2 cores). A stale or foreign archive (other JDK, other jars) is ignored by
# the JVM with a warning in console.log. PHAROS_KAFKA_CDS=0 turns it off.
#
# Topics are created by the project: auto.create.topics.enable stays false.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

port=${PHAROS_KAFKA_PORT:-9092}
controller_port=${PHAROS_KAFKA_CONTROLLER_PORT:-}
state_dir=${PHAROS_KAFKA_STATE_DIR:-$repo/state/kafka}
libs=${PHAROS_KAFKA_LIBS:-}
heap_opts=${PHAROS_KAFKA_HEAP_OPTS:--Xmx512m -Xms128m}
# Serial GC: one collector thread, no concurrent marking; pauses on a 512 MiB heap are short,
# and the two cores stay free for the services under test.
jvm_opts=${PHAROS_KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError}
jvm_opts+=" -Djava.awt.headless=true"
start_timeout=${PHAROS_KAFKA_START_TIMEOUT:-90}
stop_timeout=${PHAROS_KAFKA_STOP_TIMEOUT:-60}
log_level=${PHAROS_KAFKA_LOG_LEVEL:-warn}
# Word splitting is the point: the variable is a space-separated list of KEY=VALUE.
# shellcheck disable=SC2206
extra_props=(${PHAROS_KAFKA_PROPS:-})
# The short-lived tools (StorageTool, TopicCommand) start faster on C1 alone. The broker keeps
# C2: benchmarks measure throughput through it.
# JVM warnings (e.g. an unusable CDS archive) go to stderr, so tool output stays parseable.
tool_jvm_opts="-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true"
tool_jvm_opts+=" -Xlog:disable -Xlog:all=warning:stderr"
use_cds=${PHAROS_KAFKA_CDS:-1}
# Internal: set by make-cds for the throwaway broker that records the archive.
cds_dump=${PHAROS_KAFKA_CDS_DUMP:-}

say() { printf 'kafka[%s]: %s\n' "$port" "$*"; }
die() {
  printf 'kafka[%s]: error: %s\n' "$port" "$*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

# ---- jars ---------------------------------------------------------------------------------

# Set $libs to a folder holding the broker jars, fetching the default one when needed.
resolve_libs() {
  if [[ -n "$libs" ]]; then
    # An explicit folder is used as it is (it may be a Kafka distribution's libs/), unless it
    # is empty, in which case it is filled from the pom.
    if ! compgen -G "$libs/kafka_2.13-*.jar" >/dev/null; then
      "$here/fetch.sh" "$libs" >&2 || die "could not fetch the Kafka jars into $libs"
    fi
    return 0
  fi
  libs=$("$here/fetch.sh" --print-dir)
  local parent
  parent=$(dirname "$libs")
  while [[ ! -e "$parent" ]]; do parent=$(dirname "$parent"); done
  if [[ ! -w "$parent" ]] && ! compgen -G "$libs/kafka_2.13-*.jar" >/dev/null; then
    # Not root and nothing installed by deploy/setup.sh: keep a private copy in the repo.
    libs="$repo/.cache/$(basename "$(dirname "$libs")")/libs"
  fi
  # Quick when complete (a checksum and a count); fetches with mvn otherwise.
  "$here/fetch.sh" "$libs" >/dev/null || die "could not fetch the Kafka jars into $libs"
}

cds_archive() {
  printf '%s/kafka-cds.jsa\n' "$(dirname "$libs")"
}

# Print the JVM option that maps the CDS archive, when there is one to map.
cds_opts() {
  if [[ -n "$cds_dump" ]]; then
    printf '%s\n' "-XX:ArchiveClassesAtExit=$cds_dump"
  elif [[ "$use_cds" != 0 && -r "$(cds_archive)" ]]; then
    printf '%s\n' "-XX:SharedArchiveFile=$(cds_archive)"
  fi
}

# Run a Kafka tool class with the jars on the classpath; logs WARN and up to stderr.
run_tool() {
  local class=$1
  shift
  mkdir -p "$state_dir"
  write_tool_log4j
  # Word splitting of the option strings is intended.
  # shellcheck disable=SC2086,SC2046
  java $tool_jvm_opts $([[ -n "$cds_dump" ]] || cds_opts) \
    -Dlog4j2.configurationFile="$state_dir/tools-log4j2.properties" \
    -cp "$libs/*" "$class" "$@"
}

# ---- configuration ------------------------------------------------------------------------

write_server_properties() {
  cat >"$state_dir/server.properties.tmp" <<EOF
# Written by deploy/kafka/broker.sh on every start; edits here are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$state_dir/data

# Topics are the project's job (Admin API); a typo must fail, not create a topic.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

# Small machine: 2 cores shared with the services, a 512 MiB heap.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.cleaner.threads=1
# The cleaner's dedupe buffer is taken from the heap (default 128 MiB).
log.cleaner.dedupe.buffer.size=16777216
offsets.topic.num.partitions=12
transaction.state.log.num.partitions=4
share.coordinator.state.topic.num.partitions=4
log.segment.bytes=67108864
offsets.topic.segment.bytes=16777216
transaction.state.log.segment.bytes=16777216
log.retention.hours=24
log.retention.check.interval.ms=60000
# After a crash (SIGKILL) the next start waits out broker.session.timeout.ms (9 s) before the
# controller accepts the new incarnation; tests that kill the broker may lower it with --set.
EOF
  if ((${#extra_props[@]})); then
    printf '\n# --set / PHAROS_KAFKA_PROPS\n' >>"$state_dir/server.properties.tmp"
    printf '%s\n' "${extra_props[@]}" >>"$state_dir/server.properties.tmp"
  fi
  mv "$state_dir/server.properties.tmp" "$state_dir/server.properties"
}

write_log4j() {
  cat >"$state_dir/log4j2.properties" <<EOF
# Written by deploy/kafka/broker.sh: $log_level and up to broker.log, rolled at 10 MiB.
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = $state_dir/broker.log
appender.file.filePattern = $state_dir/broker.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 10MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
rootLogger.level = $log_level
rootLogger.appenderRef.file.ref = file
# One INFO line per start and stop makes the log readable.
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = info
logger.kafka.name = kafka.Kafka\$
logger.kafka.level = info
EOF
}

write_tool_log4j() {
  cat >"$state_dir/tools-log4j2.properties" <<EOF
status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = err
EOF
}

# A cluster id as Kafka's Uuid.randomUuid() makes them: 16 random bytes, URL-safe base64 without
# padding, never starting with '-'. Saves a JVM start over `StorageTool random-uuid`.
new_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ "$id" == -* || "$id" == AAAAAAAAAAAAAAAAAAAAA[AQ] ]] || break
  done
  printf '%s\n' "$id"
}

format_storage_once() {
  [[ -f "$state_dir/data/meta.properties" ]] && return 0
  local id
  id=$(new_cluster_id)
  say "formatting storage in $state_dir/data (cluster id $id)"
  run_tool kafka.tools.StorageTool format -t "$id" -c "$state_dir/server.properties" \
    --ignore-formatted >"$state_dir/format.log" 2>&1 ||
    {
      cat "$state_dir/format.log" >&2
      die "storage format failed"
    }
}

# ---- process ------------------------------------------------------------------------------

# Print the pid of the broker running on this state dir, if any.
broker_pid() {
  local pid="" stat
  if [[ -f "$state_dir/broker.pid" ]]; then
    read -r pid <"$state_dir/broker.pid" || true
  fi
  if ! is_uint "${pid:-x}" || ! is_ours "$pid"; then
    # The pid file was lost or is stale: look for a JVM started on this very properties file.
    pid=$(pgrep -f -x "java .* kafka\.Kafka $state_dir/server\.properties" | head -n 1 || true)
    [[ -n "$pid" ]] || return 1
  fi
  # A zombie (no init to reap it, e.g. in a container) counts as gone.
  stat=$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null || echo Z)
  [[ "$stat" != Z ]] || return 1
  printf '%s\n' "$pid"
}

# True when pid is a live broker JVM of this state dir (not a recycled pid).
is_ours() {
  local cmdline
  cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
  [[ "$cmdline" == *"kafka.Kafka $state_dir/server.properties"* ]]
}

# True when the broker answers a metadata request listing itself. The TCP probe comes first:
# a kcat run against a closed port waits out its whole -m timeout instead of retrying, which
# would add up to that much to every start.
answers_metadata() {
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || return 1
  kcat -b "127.0.0.1:$port" -L -J -m 3 2>/dev/null | grep -q '"brokers":\[{'
}

port_in_use() {
  [[ -n "$(ss -Hltn "( sport = :$1 )" 2>/dev/null)" ]]
}

log_tail() {
  local f
  for f in "$state_dir/broker.log" "$state_dir/console.log"; do
    [[ -s "$f" ]] || continue
    printf -- '---- last lines of %s ----\n' "$f" >&2
    tail -n 40 "$f" >&2
  done
}

cmd_start() {
  local pid t0 deadline
  t0=$EPOCHREALTIME
  if pid=$(broker_pid); then
    say "already running (pid $pid); waiting for metadata"
  else
    local p
    for p in "$port" "$controller_port"; do
      ! port_in_use "$p" || die "port $p is already in use by another process"
    done
    resolve_libs
    write_server_properties
    write_log4j
    format_storage_once
    rm -f "$state_dir/broker.pid"
    # broker.log is appended to across runs: mark where this one begins.
    printf '==== deploy/kafka/broker.sh start %s (port %s)\n' "$(date -u +%FT%TZ)" "$port" \
      >>"$state_dir/broker.log"
    # setsid: the broker outlives this shell and is not hit by the caller's Ctrl-C. The inner
    # shell writes its own pid and execs java, so the pid file names the JVM itself. fd 9
    # (the state dir lock) is closed so the broker does not hold the lock for its lifetime.
    # Word splitting of the option strings is intended.
    # shellcheck disable=SC2086,SC2046
    (cd "$state_dir" && exec setsid bash -c 'echo $$ >broker.pid; exec "$@"' broker \
      java $heap_opts $jvm_opts $(cds_opts) -XX:ErrorFile="$state_dir/hs_err_%p.log" \
      -Dlog4j2.configurationFile="$state_dir/log4j2.properties" \
      -cp "$libs/*" kafka.Kafka "$state_dir/server.properties" \
      </dev/null >"$state_dir/console.log" 2>&1 9>&- &)
    local tries=50
    while [[ ! -s "$state_dir/broker.pid" ]] && ((tries-- > 0)); do sleep 0.1; done
    read -r pid <"$state_dir/broker.pid" || die "the broker did not start (no pid file)"
    say "started pid $pid (state $state_dir, libs $libs)"
  fi
  deadline=$((SECONDS + start_timeout))
  while ((SECONDS < deadline)); do
    if answers_metadata; then
      say "ready on 127.0.0.1:$port after $(elapsed_since "$t0") s"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null || ! is_ours "$pid"; then
      log_tail
      die "the broker exited during start-up"
    fi
    sleep 0.1
  done
  log_tail
  say "no metadata answer after $start_timeout s; stopping it"
  cmd_stop >&2 || true
  die "start timed out"
}

elapsed_since() {
  awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

cmd_stop() {
  local pid deadline
  if ! pid=$(broker_pid); then
    rm -f "$state_dir/broker.pid"
    say "not running"
    return 0
  fi
  say "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + stop_timeout))
  while ((SECONDS < deadline)); do
    if ! broker_pid >/dev/null; then
      rm -f "$state_dir/broker.pid"
      say "stopped"
      return 0
    fi
    sleep 0.2
  done
  say "still running after $stop_timeout s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.5
  rm -f "$state_dir/broker.pid"
}

cmd_status() {
  local pid
  pid=$(broker_pid) || pid=""
  if answers_metadata; then
    say "up on 127.0.0.1:$port${pid:+ (pid $pid)}"
    return 0
  fi
  if [[ -n "$pid" ]]; then
    say "pid $pid is running but does not answer metadata on 127.0.0.1:$port"
  else
    say "down"
  fi
  return 1
}

# Record the classes a broker loads from start to ready and back into the CDS archive.
cmd_make_cds() {
  resolve_libs
  local archive tmp_state tmp_archive p rc=0
  archive=$(cds_archive)
  [[ -w "$(dirname "$archive")" ]] || die "cannot write $archive"
  tmp_state=$(mktemp -d)
  tmp_archive="$archive.tmp.$$"
  # Any free pair of ports will do; the throwaway broker never serves anyone.
  for p in $(shuf -i 20000-59999 -n 20); do
    ! port_in_use "$p" && ! port_in_use $((p + 1)) && break
  done
  say "recording the CDS archive with a throwaway broker on port $p"
  PHAROS_KAFKA_CDS_DUMP="$tmp_archive" "${BASH_SOURCE[0]}" --state-dir="$tmp_state" \
    --port="$p" --libs="$libs" --heap="$heap_opts" --jvm-opts="${jvm_opts% -Djava.awt.headless=true}" \
    start >/dev/null &&
    "${BASH_SOURCE[0]}" --state-dir="$tmp_state" --port="$p" stop >/dev/null || rc=1
  rm -rf "$tmp_state"
  if ((rc != 0)) || [[ ! -s "$tmp_archive" ]]; then
    rm -f "$tmp_archive"
    die "the throwaway broker did not write $tmp_archive"
  fi
  chmod 644 "$tmp_archive"
  mv -f "$tmp_archive" "$archive"
  say "wrote $archive"
}

main() {
  local arg command=""
  local -a rest=()
  while (($#)); do
    arg=$1
    case "$arg" in
      --port=*) port=${arg#*=} ;;
      --controller-port=*) controller_port=${arg#*=} ;;
      --state-dir=*) state_dir=${arg#*=} ;;
      --libs=*) libs=${arg#*=} ;;
      --heap=*) heap_opts=${arg#*=} ;;
      --jvm-opts=*) jvm_opts=${arg#*=} ;;
      --timeout=*) start_timeout=${arg#*=} ;;
      --stop-timeout=*) stop_timeout=${arg#*=} ;;
      --log-level=*) log_level=${arg#*=} ;;
      --set=*=*) extra_props+=("${arg#--set=}") ;;
      -h | --help)
        usage
        return 0
        ;;
      start | stop | status | restart | topics | tool | make-cds)
        command=$arg
        shift
        rest=("$@")
        break
        ;;
      *) die "unknown argument '$arg' (see --help)" ;;
    esac
    shift
  done
  [[ -n "$command" ]] || {
    usage >&2
    exit 2
  }
  is_uint "$port" || die "--port must be a number, not '$port'"
  controller_port=${controller_port:-$((port + 1))}
  is_uint "$controller_port" || die "--controller-port must be a number"
  if ! is_uint "$start_timeout" || ! is_uint "$stop_timeout"; then
    die "timeouts are whole seconds"
  fi
  ((port != controller_port)) || die "port and controller port must differ"
  if [[ "$command" == start || "$command" == restart || "$command" == status ]]; then
    command -v kcat >/dev/null 2>&1 || die "kcat not found (run deploy/setup.sh)"
  fi
  # Absolute, because it is matched against the JVM's command line. Only start creates it: a
  # stop or status after a test deleted the folder must not bring it back.
  state_dir=$(realpath -m -- "$state_dir")

  case "$command" in
    start | restart)
      command -v java >/dev/null 2>&1 || die "java not found (run deploy/setup.sh)"
      mkdir -p "$state_dir"
      # One start or stop at a time per state dir.
      exec 9>"$state_dir/.lock"
      flock 9
      if [[ "$command" == restart ]]; then
        cmd_stop
      fi
      cmd_start
      ;;
    stop)
      if [[ -d "$state_dir" ]]; then
        exec 9>"$state_dir/.lock"
        flock 9
      fi
      cmd_stop
      ;;
    status) cmd_status ;;
    make-cds) cmd_make_cds ;;
    topics)
      resolve_libs
      run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" \
        "${rest[@]}"
      ;;
    tool)
      ((${#rest[@]})) || die "tool needs a class name"
      resolve_libs
      run_tool "${rest[@]}"
      ;;
  esac
}

main "$@"
