#!/usr/bin/env bash
# Builds the NPL extension for VS Code: installs the npm dependencies,
# runs the grammar tests, bundles the TypeScript client and packages
# npl-VERSION.vsix in editors/vscode/.
#
#   editors/vscode/scripts/build.sh
#   code --install-extension editors/vscode/npl-0.1.0.vsix
#
# Needs Node.js 20 or later and the npm registry. The extension runs
# `nplc lsp`: install nplc (`cargo install --path .` at the repository root)
# or point the `nplc.path` setting at it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
npm test
# The one packaging path: `vscode:prepublish` type-checks and bundles the
# client (esbuild), so the .vsix needs no node_modules.
npm run package
version=$(node -p 'require("./package.json").version')
echo "built $(pwd)/npl-${version}.vsix"
