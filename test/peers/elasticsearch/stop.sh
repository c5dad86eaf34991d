#!/usr/bin/env bash
# Stop the node started by start.sh (by the PID in its PID file only).
#   ELASTICSEARCH_DIR          as for start.sh
#   ELASTICSEARCH_CLEAN=1      also delete the node dir (data, logs)
set -euo pipefail
DIR="${ELASTICSEARCH_DIR:-${TMPDIR:-/tmp}/kubetrail-elasticsearch}"
PIDFILE="$DIR/elasticsearch.pid"
if [ -f "$PIDFILE" ]; then
  PID="$(cat "$PIDFILE")"
  # Only if that PID still is this node (its command line names DIR).
  if kill -0 "$PID" 2>/dev/null && tr '\0' ' ' < "/proc/$PID/cmdline" 2>/dev/null | grep -qF "$DIR"; then
    kill -TERM "$PID"
    for _ in $(seq 1 150); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$PID" 2>/dev/null; then
      echo "stop.sh: $PID still running after 30s, sending KILL" >&2
      kill -KILL "$PID" 2>/dev/null || true
    fi
  fi
  rm -f "$PIDFILE" "$DIR/elasticsearch.env"
fi
if [ "${ELASTICSEARCH_CLEAN:-0}" = 1 ]; then rm -rf "$DIR"; fi
echo "stop.sh: stopped" >&2
