#!/usr/bin/env bash
# Runs the RLS overhead benchmark and writes bench/results/rls.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo run --release --locked -p vextrus-bench-rls -- --out bench/results/rls.md "$@"
