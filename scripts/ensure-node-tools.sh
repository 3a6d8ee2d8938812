#!/usr/bin/env bash
# The npm clients the tests drive besides npm itself: pnpm 9, yarn 1, yarn 4, Changesets and
# tus-js-client (the files tests), installed from the npm registry into target/node-tools (once; kept with the build);
# the tarballs of a real public dependency tree, into target/public-packages; and Verdaccio.
set -euo pipefail
cd "$(dirname "$0")/.."
# The public packages (express 5 and its 67 dependencies) the proxy tests seed an upstream with.
python3 scripts/fetch-public-packages.py crates/vextrus/tests/fixtures/public-tree/package-lock.json \
  target/public-packages
# Verdaccio 6, for the migration tests and the side-by-side benchmark. The registry mirror here
# lacks the node-fetch version verdaccio-audit asks for (see ../shared/reference), hence the override.
verdaccio=target/verdaccio
if [ ! -x "$verdaccio/node_modules/.bin/verdaccio" ]; then
  mkdir -p "$verdaccio"
  cat > "$verdaccio/package.json" <<'JSON'
{"name": "verdaccio-here", "private": true, "dependencies": {"verdaccio": "6"},
 "overrides": {"verdaccio-audit": {"node-fetch": "2.7.0"}}}
JSON
  npm install --prefix "$verdaccio" --no-audit --no-fund --loglevel=error >/dev/null
fi
dir=target/node-tools
want="pnpm@9 yarn@1 @yarnpkg/cli-dist@4 @changesets/cli@2 tus-js-client@4"
if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$want" ]; then
  exit 0
fi
mkdir -p "$dir"
# shellcheck disable=SC2086
npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error $want >/dev/null
echo "$want" > "$dir/.installed"
