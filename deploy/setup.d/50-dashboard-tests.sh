#!/usr/bin/env bash
# Set up the dashboard's browser test (tests/browser/dashboard.test.mjs): Debian's Chromium and
# playwright-core from the npm registry. Run by deploy/setup.sh as root after the packages; safe
# to run again, and silent when everything is already in place.
#
# Why Debian's chromium and not `npx playwright install`: the machines reach package registries
# only, so a browser build downloaded by Playwright would fail; playwright-core drives the
# Debian browser through executablePath instead.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
browser_dir=$(cd "$here/../../tests/browser" && pwd)
# A stamp beside the modules: npm ci runs again only when the lock file changed.
stamp="$browser_dir/node_modules/.pharos-lock.sha256"
log=/tmp/pharos-setup-dashboard.log

say() { printf 'setup: dashboard-tests: %s\n' "$*"; }
die() {
  printf 'setup: dashboard-tests: error: %s\n' "$*" >&2
  exit 1
}

# apt-get with the same options as deploy/setup.sh; the log is shown only on failure.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  local -a apt=(apt-get -q -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  say "installing $* (apt-get; a few minutes)"
  if ! { "${apt[@]}" update && "${apt[@]}" install --no-install-recommends "$@"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "apt-get install $* failed (log: $log)"
  fi
}

# Node and npm normally come with the machine (playwright-core 1.64 wants Node >= 20); install
# Debian's only when there is none at all, so a newer Node already present is kept.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi

if [[ ! -x /usr/bin/chromium ]]; then
  apt_install chromium
  /usr/bin/chromium --version >/dev/null 2>&1 || die "/usr/bin/chromium does not start"
fi

lock_sum=$(sha256sum "$browser_dir/package-lock.json" | cut -d' ' -f1)
if [[ ! -d "$browser_dir/node_modules/playwright-core" || ! -f "$stamp" ||
  "$(cat "$stamp")" != "$lock_sum" ]]; then
  say "npm ci in tests/browser"
  if ! (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "npm ci failed in $browser_dir (log: $log)"
  fi
  printf '%s\n' "$lock_sum" >"$stamp"
fi
