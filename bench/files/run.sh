#!/usr/bin/env bash
# Files: upload and download throughput next to the raw ceilings (see run.py). Writes
# bench/results/files.md. Needs clamd, hey, curl (installed with apt if missing), moto's server
# and boto3 (pip), and a release build of vextrus (built here).
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=""
[ -x /usr/sbin/clamd ] || missing="$missing clamav-daemon"
command -v hey >/dev/null || missing="$missing hey"
command -v curl >/dev/null || missing="$missing curl"
if [ -n "$missing" ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  # shellcheck disable=SC2086
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi
command -v moto_server >/dev/null || python3 -m pip install -q 'moto[server]'
cargo build --release --locked -p vextrus
exec python3 bench/files/run.py "$@"
