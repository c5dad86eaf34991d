#!/usr/bin/env bash
# Start a moto server (AWS emulator; the tests use its CloudWatch Logs and STS)
# on 127.0.0.1 in the background, wait until it answers, and print
# `export K=V` lines on stdout:
#
#   eval "$(test/peers/moto/start.sh)"   # then: go test ./outputs/cloudwatch/; test/peers/moto/stop.sh
#
# MOTO_ENDPOINT is the server's URL. State lives in memory only; tests reset it
# with POST $MOTO_ENDPOINT/moto-api/reset.
#
# Env (optional): MOTO_DIR (pid file and log; default ${TMPDIR:-/tmp}/kubetrail-moto-$UID),
# MOTO_PORT (default 5000, or a free port when 5000 is taken), MOTO_START_TIMEOUT (s, default 60).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { echo "start.sh: $*" >&2; }

bin="$("$here/fetch.sh")"
dir="${MOTO_DIR:-${TMPDIR:-/tmp}/kubetrail-moto-$UID}"
mkdir -p "$dir"

if [[ -f "$dir/moto.pid" ]] && kill -0 "$(cat "$dir/moto.pid")" 2>/dev/null; then
  log "moto is already running (pid $(cat "$dir/moto.pid")); run stop.sh first"
  exit 1
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port="${MOTO_PORT:-5000}"
if [[ -z "${MOTO_PORT:-}" ]]; then
  tries=0
  while port_busy "$port"; do
    tries=$((tries + 1)); [[ $tries -le 50 ]] || { log "no free port found"; exit 1; }
    port=$((20000 + RANDOM % 20000))
  done
elif port_busy "$port"; then
  log "port $port on 127.0.0.1 is in use"; exit 1
fi

nohup "$bin" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$dir/moto.pid"

url="http://127.0.0.1:$port"
deadline=$((SECONDS + ${MOTO_START_TIMEOUT:-60}))
until curl -fsS -o /dev/null -X POST "$url/moto-api/reset" 2>/dev/null; do
  if ! kill -0 "$pid" 2>/dev/null; then
    log "moto exited during startup:"; tail -20 "$dir/moto.log" >&2; rm -f "$dir/moto.pid"; exit 1
  fi
  if [[ $SECONDS -ge $deadline ]]; then
    log "not ready after ${MOTO_START_TIMEOUT:-60}s; see $dir/moto.log"; "$here/stop.sh" || true; exit 1
  fi
  sleep 0.2
done
log "ready: pid $pid on $url (log $dir/moto.log)"
echo "export MOTO_ENDPOINT=$url"
echo "export MOTO_DIR='$dir'"
