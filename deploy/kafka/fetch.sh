#!/usr/bin/env bash
# Fetch the pinned Apache Kafka broker jars (deploy/kafka/pom.xml) from Maven Central.
#
#   deploy/kafka/fetch.sh [--print-dir] [DEST]
#
# DEST defaults to $PHAROS_KAFKA_LIBS, else /opt/pharos/kafka-<version>/libs.
# --print-dir prints the default DEST and exits (broker.sh and setup.sh use it, so the
# location is decided in one place).
#
# Idempotent: a marker file in DEST records the sha256 of the pom and the jar count; when
# both still match, nothing is fetched. A changed pom (new version, new dependency) fetches
# again. The jars land in a temporary folder first and are swapped in whole, under a lock,
# so concurrent callers (two test brokers starting at once) never see half a folder.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pom="$here/pom.xml"
marker_name=.pharos-complete

kafka_version() {
  sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom" | head -n 1
}

default_dir() {
  if [[ -n "${PHAROS_KAFKA_LIBS:-}" ]]; then
    printf '%s\n' "$PHAROS_KAFKA_LIBS"
  else
    printf '/opt/pharos/kafka-%s/libs\n' "$(kafka_version)"
  fi
}

# The marker's expected first line; the second line is the jar count.
pom_digest() {
  sha256sum "$pom" | cut -d' ' -f1
}

# True when DEST holds exactly what the current pom produced.
is_complete() {
  local dest=$1 digest count
  [[ -f "$dest/$marker_name" ]] || return 1
  {
    read -r digest
    read -r count
  } <"$dest/$marker_name" || return 1
  [[ "$digest" == "$(pom_digest)" ]] || return 1
  [[ "$(find "$dest" -maxdepth 1 -name '*.jar' | wc -l)" == "$count" ]] || return 1
  [[ -f "$dest/kafka_2.13-$(kafka_version).jar" ]]
}

fetch() {
  local dest=$1 tmp count
  if ! command -v mvn >/dev/null 2>&1; then
    echo "fetch.sh: mvn not found; run deploy/setup.sh (or apt-get install maven)" >&2
    return 1
  fi
  tmp="$dest.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # -U: a failed download (network down) is cached by Maven and would block the next try.
  if ! mvn -q -B -U -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
    echo "fetch.sh: mvn failed:" >&2
    tail -n 30 "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    return 1
  fi
  rm -f "$tmp.log"
  count=$(find "$tmp" -maxdepth 1 -name '*.jar' | wc -l)
  if [[ ! -f "$tmp/kafka_2.13-$(kafka_version).jar" ]]; then
    echo "fetch.sh: mvn finished but kafka_2.13-$(kafka_version).jar is missing" >&2
    rm -rf "$tmp"
    return 1
  fi
  printf '%s\n%s\n' "$(pom_digest)" "$count" >"$tmp/$marker_name"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  # broker.sh's class-data-sharing archive names the old jars: record it again.
  rm -f "$(dirname "$dest")/kafka-cds.jsa"
  echo "fetch.sh: kafka $(kafka_version): $count jars in $dest"
}

main() {
  if [[ "${1:-}" == "--print-dir" ]]; then
    default_dir
    return 0
  fi
  if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    return 0
  fi
  local dest=${1:-$(default_dir)} lock
  mkdir -p "$(dirname "$dest")"
  if is_complete "$dest"; then
    echo "fetch.sh: kafka $(kafka_version) jars already in $dest"
    return 0
  fi
  lock="$(dirname "$dest")/.fetch.lock"
  exec 9>"$lock"
  flock 9
  # Someone else may have finished while we waited for the lock.
  if is_complete "$dest"; then
    echo "fetch.sh: kafka $(kafka_version) jars already in $dest"
    return 0
  fi
  echo "fetch.sh: fetching kafka $(kafka_version) with mvn into $dest"
  fetch "$dest"
}

main "$@"
