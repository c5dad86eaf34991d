#!/usr/bin/env bash
# Stop the broker that start.sh started, by the PID in $KAFKA_DIR/kafka.pid.
#   test/peers/kafka/stop.sh [KAFKA_DIR]
# Env:
#   KAFKA_DIR           work dir (or first argument)
#   KAFKA_STOP_SIGNAL   TERM (default: controlled shutdown) or KILL (crash)
#   KAFKA_STOP_TIMEOUT  seconds to wait after TERM before KILL, default 30
#   KAFKA_CLEAN=1       also delete KAFKA_DIR afterwards
set -euo pipefail

dir="${1:-${KAFKA_DIR:-}}"
[[ -n "$dir" ]] || { echo "stop.sh: set KAFKA_DIR or pass it as the first argument" >&2; exit 1; }
pidfile="$dir/kafka.pid"

if [[ -f "$pidfile" ]]; then
  pid="$(cat "$pidfile")"
  # Only signal the process if it is still our broker (guards against a reused PID).
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir/server.properties"; then
    sig="${KAFKA_STOP_SIGNAL:-TERM}"
    kill "-$sig" "$pid"
    deadline=$((SECONDS + ${KAFKA_STOP_TIMEOUT:-30}))
    while kill -0 "$pid" 2>/dev/null; do
      if [[ $SECONDS -ge $deadline ]]; then
        echo "stop.sh: pid $pid still alive after SIG$sig; sending KILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 10))
      fi
      sleep 0.2
    done
    echo "stop.sh: stopped pid $pid (SIG$sig)" >&2
  else
    echo "stop.sh: pid $pid is not running (or not our broker)" >&2
  fi
  rm -f "$pidfile"
else
  echo "stop.sh: no $pidfile" >&2
fi

if [[ "${KAFKA_CLEAN:-0}" == 1 ]]; then
  rm -rf "$dir"
fi
