#!/usr/bin/env bash
# The npm registry side by side with Verdaccio 6: see run.py. Writes bench/results/registry.md.
# Needs wrk (installed with apt if missing), Verdaccio and the tree's tarballs
# (scripts/ensure-node-tools.sh, run here), and a release build of vextrus (built here).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || {
  echo "installing wrk" >&2
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
}
scripts/ensure-node-tools.sh
python3 scripts/fetch-public-packages.py bench/registry/fixture/package-lock.json target/bench-packages
cargo build --release --locked -p vextrus
exec python3 bench/registry/run.py "$@"
