#!/usr/bin/env bash
# Start the Splunk HEC test peer on 127.0.0.1 in the background, wait until it
# answers, and print `export K=V` lines on stdout (logs go to stderr and to
# $SPLUNKHEC_DIR/receiver.log):
#
#   eval "$(test/peers/splunkhec/start.sh)"   # then go test ./outputs/splunkhec/; stop.sh
#
# Exports:
#   KUBETRAIL_HEC_ENDPOINT      base URL, e.g. http://127.0.0.1:18088
#   KUBETRAIL_HEC_TOKEN         the token the receiver accepts (scheme "Splunk")
#   KUBETRAIL_HEC_RECEIVED      the file the receiver appends one JSON line per event to
#   KUBETRAIL_HEC_RECEIVER_BIN  the binary, for tests that start, kill and restart
#                               their own receiver (see receiver/main.go)
# Env (optional): SPLUNKHEC_DIR (default ${TMPDIR:-/tmp}/kubetrail-splunkhec),
# SPLUNKHEC_PORT (default 18088, else a free one), SPLUNKHEC_TOKEN.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { echo "start.sh: $*" >&2; }

bin="$("$here/fetch.sh")"
dir="${SPLUNKHEC_DIR:-${TMPDIR:-/tmp}/kubetrail-splunkhec}"
mkdir -p "$dir"
if [[ -f "$dir/receiver.pid" ]] && kill -0 "$(cat "$dir/receiver.pid")" 2>/dev/null; then
  log "a receiver is already running from $dir (pid $(cat "$dir/receiver.pid")); run stop.sh first"
  exit 1
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port="${SPLUNKHEC_PORT:-18088}"
tries=0
while port_busy "$port"; do
  tries=$((tries + 1)); [[ $tries -le 50 ]] || { log "no free port found"; exit 1; }
  port=$((20000 + RANDOM % 20000))
done
token="${SPLUNKHEC_TOKEN:-kubetrail-test-token}"
received="$dir/received.ndjson"
: >"$received"

cat >"$dir/config.yaml" <<YAML
extensions:
  bearertokenauth:
    scheme: Splunk
    token: "$token"
  indexer:
    index_delay: 0s
receivers:
  splunk_hec:
    endpoint: 127.0.0.1:$port
    include_metadata: true
    auth: {authenticator: bearertokenauth}
    ack: {extension: indexer}
exporters:
  recordfile:
    path: $received
    journal: $dir/journal
service:
  extensions: [bearertokenauth, indexer]
  telemetry:
    logs: {level: warn}
    metrics: {level: none}
  pipelines:
    logs: {receivers: [splunk_hec], exporters: [recordfile]}
YAML

nohup "$bin" --config "$dir/config.yaml" >>"$dir/receiver.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$dir/receiver.pid"

deadline=$((SECONDS + 30))
until curl -fsS -o /dev/null -H "Authorization: Splunk $token" "http://127.0.0.1:$port/services/collector/health" 2>/dev/null; do
  if ! kill -0 "$pid" 2>/dev/null; then
    log "receiver exited during startup:"; tail -20 "$dir/receiver.log" >&2; rm -f "$dir/receiver.pid"; exit 1
  fi
  if [[ $SECONDS -ge $deadline ]]; then
    log "not ready after 30 s; see $dir/receiver.log"; "$here/stop.sh" || true; exit 1
  fi
  sleep 0.1
done
log "ready: pid $pid on 127.0.0.1:$port, dir $dir"

cat <<ENV
export KUBETRAIL_HEC_ENDPOINT=http://127.0.0.1:$port
export KUBETRAIL_HEC_TOKEN='$token'
export KUBETRAIL_HEC_RECEIVED='$received'
export KUBETRAIL_HEC_RECEIVER_BIN='$bin'
ENV
