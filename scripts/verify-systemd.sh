#!/usr/bin/env bash
# Checks deploy/rina-enroll.service with `systemd-analyze verify`, against the
# built CLI (dist/cli/rina-enroll.js stands in for /usr/local/bin/rina-enroll).
# Skipped, saying so, where systemd-analyze is missing. Run after `npm run build`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "systemd-analyze not found: deploy/rina-enroll.service not checked"
  exit 0
fi
test -f dist/cli/rina-enroll.js || { echo "run npm run build first" >&2; exit 1; }
chmod +x dist/cli/rina-enroll.js
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
sed "s#/usr/local/bin/rina-enroll#$PWD/dist/cli/rina-enroll.js#" deploy/rina-enroll.service > "$dir/rina-enroll.service"
# verify exits 0 on many problems it only warns about (an unknown key, a value it
# cannot parse): any output at all fails the check.
out="$(systemd-analyze verify "$dir/rina-enroll.service" 2>&1)" || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then
  echo "$out" >&2
  exit 1
fi
echo "deploy/rina-enroll.service: systemd-analyze verify passed"
