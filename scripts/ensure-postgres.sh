#!/usr/bin/env bash
# Installs the PostgreSQL server binaries (Debian/Ubuntu package `postgresql`) when neither PATH
# nor /usr/lib/postgresql/*/bin has them. The platform runs its own private cluster from them;
# the package's system-wide cluster is not used.
set -euo pipefail

have_server() {
  command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1 && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

if have_server; then
  exit 0
fi
echo "PostgreSQL server binaries not found; installing the postgresql package" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
have_server || { echo "postgresql installed but initdb/postgres still not found" >&2; exit 1; }
