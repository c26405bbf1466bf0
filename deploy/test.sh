#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (as root): installs what is missing,
# builds twice (release: every test against a real Kafka broker; ASan+UBSan: the unit tests),
# and runs CTest. .ci/run calls exactly this.
#
#   deploy/test.sh [ctest arguments...]     e.g. deploy/test.sh -L unit
#
# Environment: PHAROS_DATA_DIR (shared data, default ../shared/data), PHAROS_BUILD_DIR (default
# build-test), PHAROS_SKIP_SETUP=1 (skip deploy/setup.sh when everything is installed),
# PHAROS_SKIP_ASAN=1 (skip the sanitizer build).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
build=${PHAROS_BUILD_DIR:-$repo/build-test}
asan=${build}-asan
jobs=$(nproc)

if [[ "${PHAROS_SKIP_SETUP:-0}" != 1 ]]; then
  deploy/setup.sh
fi

echo "test: building $build (release)"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$jobs"

status=0
if [[ "${PHAROS_SKIP_ASAN:-0}" != 1 ]]; then
  echo "test: building $asan (AddressSanitizer + UndefinedBehaviorSanitizer)"
  cmake -S . -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPHAROS_SANITIZE=ON >/dev/null
  cmake --build "$asan" -j "$jobs"
  echo "test: unit tests under sanitizers"
  (cd "$asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j "$jobs" -L unit) || status=1
fi

echo "test: every test (unit, integration, system) on the release build"
(cd "$build" && ctest --output-on-failure -j "$jobs" "$@") || status=1
exit $status
