#!/usr/bin/env bash
# Install everything Pharos needs to build, test and run on Debian 12 (bookworm), then fetch
# the pinned Kafka broker jars. Run as root; safe to run again (a second run only checks).
#
#   deploy/setup.sh [--packages-only] [--groups=LIST] [--kafka-libs=DIR]
#   deploy/setup.sh --list-packages[=LIST]
#
#   --packages-only     install Debian packages, skip the Kafka jar fetch
#   --groups=LIST       comma-separated package groups (default: all of them)
#                       build   compilers, cmake, ninja, the -dev libraries, clang-format
#                       test    tools the test suites and benchmarks call (kcat, wrk, python3...)
#                       broker  what deploy/kafka/broker.sh needs (Java 17, Maven, kcat)
#                       runtime the shared libraries the services load, as the image has them
#                       extra   the hook below for later additions (empty for now)
#                       The Kafka jars are fetched only when the broker group is selected.
#   --kafka-libs=DIR    where the jars go (default: /opt/pharos/kafka-<version>/libs,
#                       or $PHAROS_KAFKA_LIBS; deploy/kafka/broker.sh looks there too)
#   --list-packages     print the packages of the groups, one a line, and exit (no root needed)
#
# Environment: PHAROS_EXTRA_PACKAGES="pkg1 pkg2" adds packages to the extra group.
#
# Hooks for later additions: Debian packages go in extra_packages below; steps that are not
# packages (npm ci, a browser check...) go in deploy/setup.d/NN-name.sh, run with bash in name
# order after the packages and the Kafka jars (not with --packages-only). Each must be
# idempotent and quick when its work is already done, like this script.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# ---- Package lists: one place for the machine, CI and deploy/Dockerfile -------------------
build_packages=(
  build-essential pkg-config cmake ninja-build git ca-certificates clang-format
  librdkafka-dev libnng-dev libavro-dev libsqlite3-dev libcurl4-openssl-dev libjansson-dev
  libpcre2-dev libcmocka-dev libxxhash-dev libyajl-dev
)
test_packages=(
  kcat wrk python3 python3-yaml curl procps iproute2
  # tests/compose/check_compose.sh resolves compose.yaml with it; no engine needed.
  docker-compose
)
broker_packages=(
  default-jre-headless maven kcat procps iproute2 ca-certificates
)
# tests/compose/check_compose.sh compares the binaries' ldd output with this list.
runtime_packages=(
  librdkafka1 libnng1 libavro23 libjansson4 libcurl4 libsqlite3-0 libpcre2-8-0 libxxhash0
  libyajl2
  ca-certificates curl
)
# ---- HOOK for later issues: add Debian packages here (one group, installed by default). ----
# e.g. nodejs npm chromium chromium-driver for the dashboard and its browser tests.
extra_packages=(
)
# -------------------------------------------------------------------------------------------

all_groups=build,test,broker,runtime,extra

say() { printf 'setup: %s\n' "$*"; }
die() {
  printf 'setup: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

# Print the packages of the comma-separated groups in $1, one a line, without duplicates.
packages_of() {
  local group
  local -a names out=()
  IFS=, read -r -a names <<<"$1"
  for group in "${names[@]}"; do
    case "$group" in
      build) out+=("${build_packages[@]}") ;;
      test) out+=("${test_packages[@]}") ;;
      broker) out+=("${broker_packages[@]}") ;;
      runtime) out+=("${runtime_packages[@]}") ;;
      extra)
        out+=("${extra_packages[@]}")
        # Word splitting is the point: the variable is a space-separated list.
        # shellcheck disable=SC2206
        out+=(${PHAROS_EXTRA_PACKAGES:-})
        ;;
    esac
  done
  ((${#out[@]})) || return 0
  printf '%s\n' "${out[@]}" | awk 'NF && !seen[$0]++'
}

# Fail unless every comma-separated group in $1 is known (before anything runs in a subshell).
check_groups() {
  local group
  local -a names
  IFS=, read -r -a names <<<"$1"
  for group in "${names[@]}"; do
    [[ ",$all_groups," == *",$group,"* ]] ||
      die "unknown package group '$group' (known: $all_groups)"
  done
}

# Print those of the given packages that are not fully installed.
missing_packages() {
  local installed
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null |
    awk '$2 == "ii" { print $1 }' || true)
  local pkg
  for pkg in "$@"; do
    grep -qxF "$pkg" <<<"$installed" || printf '%s\n' "$pkg"
  done
}

install_packages() {
  local groups=$1
  local -a wanted missing
  mapfile -t wanted < <(packages_of "$groups")
  if ((${#wanted[@]} == 0)); then
    say "packages: none selected"
    return 0
  fi
  mapfile -t missing < <(missing_packages "${wanted[@]}")
  if ((${#missing[@]} == 0)); then
    say "packages: all ${#wanted[@]} present ($groups)"
    return 0
  fi
  say "packages: installing ${#missing[@]} of ${#wanted[@]}: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local -a apt=(apt-get -q -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  say "packages: apt-get update"
  local log=/tmp/pharos-setup-apt.log
  if ! "${apt[@]}" update >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "apt-get update failed (log: $log)"
  fi
  if ! "${apt[@]}" install --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "apt-get install failed (log: $log)"
  fi
  mapfile -t missing < <(missing_packages "${wanted[@]}")
  ((${#missing[@]} == 0)) || die "still not installed after apt-get: ${missing[*]}"
  say "packages: done"
}

check_java() {
  local version major
  command -v java >/dev/null 2>&1 || die "java not found after installing default-jre-headless"
  version=$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)
  major=${version%%.*}
  [[ "$major" =~ ^[0-9]+$ && "$major" -ge 17 ]] ||
    die "Kafka 4.x needs Java 17 or newer; 'java' on PATH is $version"
  say "java: $version"
}

# Record the broker's class-data-sharing archive next to the jars (about 10 s, once): every
# broker and Kafka tool start is about a second faster with it. Optional, so failure only warns.
make_cds_archive() {
  local libs=$1 archive
  archive="$(dirname "$libs")/kafka-cds.jsa"
  if [[ -s "$archive" && "$archive" -nt "$libs/.pharos-complete" ]]; then
    say "kafka: CDS archive present"
    return 0
  fi
  say "kafka: recording the CDS archive (starts and stops a throwaway broker)"
  "$here/kafka/broker.sh" --libs="$libs" make-cds >/tmp/pharos-setup-cds.log 2>&1 ||
    say "warning: no CDS archive, brokers start a second slower (/tmp/pharos-setup-cds.log)"
}

main() {
  local packages_only=0 groups=$all_groups list=0 arg
  local kafka_libs=${PHAROS_KAFKA_LIBS:-}
  for arg in "$@"; do
    case "$arg" in
      --packages-only) packages_only=1 ;;
      --groups=*) groups=${arg#--groups=} ;;
      --kafka-libs=*) kafka_libs=${arg#--kafka-libs=} ;;
      --list-packages) list=1 ;;
      --list-packages=*)
        list=1
        groups=${arg#--list-packages=}
        ;;
      -h | --help)
        usage
        return 0
        ;;
      *) die "unknown argument '$arg' (see --help)" ;;
    esac
  done

  check_groups "$groups"
  if ((list)); then
    packages_of "$groups"
    return 0
  fi

  [[ "$(id -u)" == 0 ]] || die "run as root (apt-get installs system packages; no sudo is used)"
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script is for Debian 12"
  if [[ -r /etc/os-release ]] && ! grep -q '^VERSION_CODENAME=bookworm' /etc/os-release; then
    say "warning: not Debian 12 (bookworm); package names may differ"
  fi

  local start=$SECONDS
  install_packages "$groups"

  if ((!packages_only)) && [[ ",$groups," == *,broker,* ]]; then
    check_java
    [[ -n "$kafka_libs" ]] || kafka_libs=$("$here/kafka/fetch.sh" --print-dir)
    "$here/kafka/fetch.sh" "$kafka_libs" 2>&1 | sed "s/^fetch.sh: /setup: /"
    make_cds_archive "$kafka_libs"
  fi
  if ((!packages_only)); then
    local hook
    for hook in "$here"/setup.d/*.sh; do
      [[ -e "$hook" ]] || continue
      say "hook: ${hook#"$here"/}"
      bash "$hook" || die "hook ${hook#"$here"/} failed"
    done
  fi
  say "done in $((SECONDS - start)) s"
}

main "$@"
