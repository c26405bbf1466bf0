#!/usr/bin/env bash
# Fails when a C file is not formatted as .clang-format says (clang-format 14, Debian 12).
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find lib services cli -name '*.[ch]')
bad=0
for f in "${files[@]}"; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (run: clang-format -i $f)"
    bad=1
  fi
done
exit $bad
