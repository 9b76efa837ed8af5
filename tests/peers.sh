#!/usr/bin/env bash
# Provision the real peers the tests talk to, where missing: the npm plug simulator
# (tplink-smarthome-simulator, pinned by tests/peer/package-lock.json), Debian's dovecot-imapd
# (the IMAP tests start their own instance), tmux (the real terminal of the shell tests), and
# prometheus and influxdb (the metrics tests start their own, on loopback), and systemd's
# systemd-analyze (the units in docs/ are verified).
# Every step is bounded: a registry that cannot be reached is a clear failure, never a hang.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_missing=()
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_missing+=(nodejs npm)
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || apt_missing+=(dovecot-imapd)
command -v tmux >/dev/null 2>&1 || apt_missing+=(tmux)
# the exporter's and the InfluxDB sink's tests start a real Prometheus (with promtool) and influxd
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || apt_missing+=(prometheus)
command -v influxd >/dev/null 2>&1 || apt_missing+=(influxdb)
# the shipped systemd units (docs/*.service) are checked by systemd-analyze verify
command -v systemd-analyze >/dev/null 2>&1 || apt_missing+=(systemd)
if [ ${#apt_missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "peers.sh: missing ${apt_missing[*]}: install them (Debian: apt-get install ${apt_missing[*]})" >&2
    exit 1
  fi
  echo "peers.sh: installing ${apt_missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq || { echo "peers.sh: apt-get update failed or timed out" >&2; exit 1; }
  timeout 900 apt-get install -y -qq "${apt_missing[@]}" >/dev/null \
    || { echo "peers.sh: could not install ${apt_missing[*]}" >&2; exit 1; }
fi

if [ ! -d tests/peer/node_modules/tplink-smarthome-simulator ]; then
  echo "peers.sh: installing the npm plug simulator" >&2
  timeout 300 npm ci --prefix tests/peer --no-audit --no-fund --loglevel=error \
    || { echo "peers.sh: npm could not install tplink-smarthome-simulator (no registry?)" >&2; exit 1; }
fi
