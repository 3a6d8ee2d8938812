#!/usr/bin/env bash
# Runs the platform on its embedded defaults: its own PostgreSQL cluster under ./vextrus-data,
# HTTP on 127.0.0.1:8080. Extra arguments go to `vextrus serve` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
exec cargo run --release --locked -- serve "$@"
