#!/usr/bin/env bash
# Runs the forward-auth benchmark and writes bench/results/forward-auth.md. Needs wrk and hey.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null && command -v hey >/dev/null || {
  echo "installing wrk and hey" >&2
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk hey >/dev/null
}
exec cargo run --release --locked -p vextrus-bench-forward-auth -- --out bench/results/forward-auth.md "$@"
