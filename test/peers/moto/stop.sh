#!/usr/bin/env bash
# Stop the moto server that start.sh started, by the pid in $MOTO_DIR/moto.pid.
set -euo pipefail
dir="${MOTO_DIR:-${TMPDIR:-/tmp}/kubetrail-moto-$UID}"
pidfile="$dir/moto.pid"
[[ -f "$pidfile" ]] || { echo "stop.sh: no $pidfile" >&2; exit 0; }
pid="$(cat "$pidfile")"
# Only signal the process if it is still a moto server (guards against a reused pid).
if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q moto_server; then
  kill -TERM "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  echo "stop.sh: stopped pid $pid" >&2
else
  echo "stop.sh: pid $pid is not running (or not moto)" >&2
fi
rm -f "$pidfile"
