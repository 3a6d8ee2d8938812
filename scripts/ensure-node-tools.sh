#!/usr/bin/env bash
# The npm clients the registry's tests drive besides npm itself: pnpm 9, yarn 1, yarn 4 and
# Changesets, installed from the npm registry into target/node-tools (once; kept with the build);
# and the tarballs of a real public dependency tree, into target/public-packages.
set -euo pipefail
cd "$(dirname "$0")/.."
# The public packages (express 5 and its 67 dependencies) the proxy tests seed an upstream with.
python3 scripts/fetch-public-packages.py crates/vextrus/tests/fixtures/public-tree/package-lock.json \
  target/public-packages
dir=target/node-tools
want="pnpm@9 yarn@1 @yarnpkg/cli-dist@4 @changesets/cli@2"
if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$want" ]; then
  exit 0
fi
mkdir -p "$dir"
# shellcheck disable=SC2086
npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error $want >/dev/null
echo "$want" > "$dir/.installed"
