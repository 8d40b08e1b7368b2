#!/usr/bin/env bash
# Create .venv and install recsys with its dev, spark and docs extras; with --system also the
# packages the tests need (redis-server, chromium, haproxy, Java 17 for Spark) through
# apt-get when missing.
# Idempotent: a second run only re-installs when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}

apt_install() {
  if command -v apt-get >/dev/null 2>&1; then
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
  else
    echo "bootstrap: cannot install $* (no apt-get)" >&2
  fi
}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv 2>/dev/null || { apt_install python3-venv; rm -rf .venv; "$PYTHON" -m venv .venv; }
fi
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev,spark,docs]"
  touch .venv/.installed
fi
if [ "${1:-}" = "--system" ]; then
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  command -v chromium >/dev/null 2>&1 || apt_install chromium   # the client-screen browser test
  command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || apt_install haproxy   # the replicas test
  command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless   # --engine spark (pyspark 4 needs Java 17+)
  command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || apt_install iproute2   # protected mode seen from a network namespace
fi
