#!/usr/bin/env bash
# Packages the extension (`npm run package`, the bundled client) and runs the
# client test on the packaged entry point against an nplc binary:
#
#   editors/vscode/scripts/test-client.sh [path/to/nplc]
#
# The binary defaults to target/debug/nplc of this checkout. Needs Node.js
# 18+ and npm (and the npm registry the first time); fails if either is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(cd ../.. && pwd)"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "editors/vscode: \`$tool\` is missing; install Node.js 18 or later to test the VS Code extension" >&2
    exit 1
  fi
done

nplc="${1:-$repo/target/debug/nplc}"
if [[ ! -x "$nplc" ]]; then
  echo "editors/vscode: no nplc binary at $nplc; run \`cargo build\` first" >&2
  exit 1
fi

# Install only when the lock file changed since the last install.
stamp=node_modules/.package-lock.installed
if [[ ! -f "$stamp" ]] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
npm test --silent
npm run package --silent
NPLC="$nplc" npm run test:client --silent
