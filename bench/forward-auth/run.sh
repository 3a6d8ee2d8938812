#!/usr/bin/env bash
# Runs the forward-auth benchmark and the in-process authorization-check benchmark (criterion),
# and writes bench/results/forward-auth.md. Needs wrk and hey (installed with apt if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null && command -v hey >/dev/null || {
  echo "installing wrk and hey" >&2
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk hey >/dev/null
}
out=bench/results/forward-auth.md
cargo run --release --locked -p vextrus-bench-forward-auth -- --out "$out" "$@"
checks=$(cargo bench --locked -p vextrus-bench-forward-auth --bench authz_check -- --output-format bencher 2>/dev/null \
  | sed -n 's/^test \(.*\) \.\.\. bench: *\([0-9,]*\) ns\/iter (+\/- \([0-9,]*\))$/| \1 | \2 | ± \3 |/p')
{
  echo
  echo "## Authorization check in process (criterion, \`benches/authz_check.rs\`)"
  echo
  echo "Cache: the platform's catalog and 100 organizations with 20 custom roles each."
  echo
  echo "| check | ns per check | spread |"
  echo "|---|---:|---:|"
  echo "$checks"
} >> "$out"
cat "$out"
