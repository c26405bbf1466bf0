#!/usr/bin/env bash
# compose.config: compose.yaml is valid and agrees with deploy/Dockerfile and the built binaries.
#
#   tests/compose/check_compose.sh [BUILD_DIR]      (default $PHAROS_BUILD_DIR, else build/)
#
# 1. `docker-compose config -q` validates compose.yaml. DOCKER_HOST points at a socket that
#    does not exist, so this also proves no Docker engine is needed (there is none in CI).
# 2. check_compose.py reads the resolved file and checks each service built from our image:
#    its program is installed by the Dockerfile and built, every --key flag of its command is
#    in the program's --help, healthchecks and ports match --http_addr, and each library the
#    binaries link comes from a package the runtime stage installs.
# Exit 0: all good; 1: a mismatch; 77 (CTest SKIP_RETURN_CODE): no binary built yet.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-${PHAROS_BUILD_DIR:-$repo/build}}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  echo "FAIL: neither docker-compose nor 'docker compose' found" \
    "(deploy/setup.sh installs docker-compose)"
  exit 1
fi

# A YAML parser: Debian's python3-yaml belongs to /usr/bin/python3, which may not be the
# python3 first on PATH.
python=""
for candidate in /usr/bin/python3 python3; do
  if "$candidate" -c 'import yaml' >/dev/null 2>&1; then
    python=$candidate
    break
  fi
done
if [[ -z "$python" ]]; then
  echo "FAIL: no python3 with the yaml module (deploy/setup.sh installs python3-yaml)"
  exit 1
fi

export DOCKER_HOST=unix:///nonexistent/pharos-no-engine.sock
cd "$repo"
if ! "${compose[@]}" -f compose.yaml config -q; then
  echo "FAIL: ${compose[*]} config -q rejects compose.yaml"
  exit 1
fi
echo "ok:   ${compose[*]} -f compose.yaml config -q (no engine: DOCKER_HOST=$DOCKER_HOST)"
"${compose[@]}" -f compose.yaml config >"$tmp/resolved.yaml"

rc=0
"$python" "$repo/tests/compose/check_compose.py" --config="$tmp/resolved.yaml" \
  --repo="$repo" --build-dir="$build" || rc=$?
exit "$rc"
