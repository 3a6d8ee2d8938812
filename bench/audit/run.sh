#!/usr/bin/env bash
# Runs the audit benchmark and writes bench/results/audit.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo run --release --locked -p vextrus-bench-audit -- --out bench/results/audit.md "$@"
