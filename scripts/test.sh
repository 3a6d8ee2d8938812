#!/usr/bin/env bash
# Runs the whole test suite against real PostgreSQL: the cluster DATABASE_URL names (a role that
# may create databases and roles), or else an embedded cluster per test process.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
scripts/ensure-node-tools.sh
python3 -c 'import jwt, cryptography' 2>/dev/null || python3 -m pip install -q 'pyjwt[crypto]'
# An S3-compatible server for the object storage tests.
command -v moto_server >/dev/null || python3 -m pip install -q 'moto[server]'
# A real SMTP server for the mail tests.
python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install -q aiosmtpd
# A real clamd for the malware-scanning tests (they start it with an EICAR-only database).
[ -x /usr/sbin/clamd ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clamav-daemon >/dev/null; }
# A real streaming HTTP client (the inbox's Server-Sent Events) and RSA keys for the FCM fake.
command -v curl >/dev/null && command -v openssl >/dev/null \
  || { apt-get update -qq && apt-get install -y -qq curl openssl >/dev/null; }
exec cargo test --workspace --locked "$@"
