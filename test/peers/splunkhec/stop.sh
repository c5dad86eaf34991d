#!/usr/bin/env bash
# Stop the receiver start.sh started (by the pid in $SPLUNKHEC_DIR/receiver.pid).
set -euo pipefail

dir="${SPLUNKHEC_DIR:-${TMPDIR:-/tmp}/kubetrail-splunkhec}"
pidfile="$dir/receiver.pid"
[[ -f "$pidfile" ]] || { echo "stop.sh: no $pidfile" >&2; exit 0; }
pid="$(cat "$pidfile")"
if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir/config.yaml"; then
  kill -TERM "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  echo "stop.sh: stopped pid $pid" >&2
fi
rm -f "$pidfile"
