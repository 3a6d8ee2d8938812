#!/usr/bin/env bash
# Runs the notify benchmark and writes bench/results/notify.md (needs python3 with aiosmtpd:
# scripts/test.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install -q aiosmtpd
exec cargo run --release --locked -p vextrus-bench-notify -- --out bench/results/notify.md "$@"
