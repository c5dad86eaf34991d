#!/usr/bin/env bash
# Start a real single-node Elasticsearch 8.19 (the test framework's MockNode
# with netty4, from Maven Central jars; no x-pack: no security, no ILM; no
# GET / and no _data_stream APIs, whose modules are not published, though
# writes to data streams work) in the background on 127.0.0.1, wait until
# the cluster is yellow or green, and print on stdout:
#
#   export ELASTICSEARCH_URL=http://127.0.0.1:9250
#   export ELASTICSEARCH_DIR=/tmp/kubetrail-elasticsearch
#
# (also written to $ELASTICSEARCH_DIR/elasticsearch.env). Use:
#   eval "$(test/peers/elasticsearch/start.sh)"
# Elasticsearch refuses to run as root: as root, the node runs as uid/gid
# 65534 (setpriv) and its dir is given to that uid.
#
#   ELASTICSEARCH_DIR        node dir (default ${TMPDIR:-/tmp}/kubetrail-elasticsearch)
#   ELASTICSEARCH_HEAP       JVM heap, default 256m
#   ELASTICSEARCH_PORT       HTTP port, default 9250 (transport: port+100)
#   ELASTICSEARCH_SETTINGS   extra node settings, one key=value a line, e.g.
#                            $'thread_pool.write.queue_size=1'
#   ELASTICSEARCH_KEEP_DATA=1  restart on the data (and, when ELASTICSEARCH_SETTINGS
#                            is unset, the settings) of the previous run
#   ELASTICSEARCH_START_TIMEOUT  seconds to wait for health (default 180)
#   JAVA_HOME                Java 17+ (default: java on PATH)
#
# Cost: 5-20 s to healthy on 2 shared cores (after fetch.sh); RSS about 300 MB.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DIR="${ELASTICSEARCH_DIR:-${TMPDIR:-/tmp}/kubetrail-elasticsearch}"
HEAP="${ELASTICSEARCH_HEAP:-256m}"
PORT="${ELASTICSEARCH_PORT:-9250}"
TIMEOUT="${ELASTICSEARCH_START_TIMEOUT:-180}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

if [ -f "$DIR/elasticsearch.pid" ] && kill -0 "$(cat "$DIR/elasticsearch.pid")" 2>/dev/null; then
  cat "$DIR/elasticsearch.env" # already running
  exit 0
fi
CACHE="$("$HERE/fetch.sh")"
if [ "${ELASTICSEARCH_KEEP_DATA:-0}" != 1 ]; then rm -rf "$DIR"; fi
mkdir -p "$DIR/home"
DIR="$(cd "$DIR" && pwd)"
PROPS="$DIR/node.properties"
if [ "${ELASTICSEARCH_KEEP_DATA:-0}" != 1 ] || [ -n "${ELASTICSEARCH_SETTINGS+set}" ] || [ ! -f "$PROPS" ]; then
  {
    echo "path.home=$DIR/home"
    echo "path.data=$DIR/data"
    echo "http.port=$PORT"
    echo "transport.port=$((PORT + 100))"
    printf '%s\n' "${ELASTICSEARCH_SETTINGS:-}"
  } > "$PROPS"
fi
PORT="$(sed -n 's/^http.port=//p' "$PROPS")"
url="http://127.0.0.1:$PORT"
rm -f "$DIR/elasticsearch.env" "$DIR/elasticsearch.pid"
# The node's classpath is hard-linked into its dir: the unprivileged uid
# cannot read root's cache.
if [ ! -d "$DIR/lib" ]; then
  cp -al "$CACHE/lib" "$DIR/lib" 2>/dev/null || cp -a "$CACHE/lib" "$DIR/lib"
  cp -a "$CACHE/classes" "$DIR/classes"
fi
AS=()
if [ "$(id -u)" = 0 ]; then
  chown -R 65534:65534 "$DIR"
  chmod a+rx "$DIR"
  AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi

start=$(date +%s)
cd "$DIR"
nohup "${AS[@]}" "$JAVA" -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError \
  -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Dlog4j2.disable.jmx=true \
  -Dtests.security.manager=false -Des.settings="$PROPS" \
  -cp "$DIR/classes:$DIR/lib/*" org.junit.runner.JUnitCore EsNodeIT \
  > "$DIR/node.log" 2>&1 < /dev/null &
PID=$!
echo "$PID" > "$DIR/elasticsearch.pid"

while :; do
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "start.sh: node exited; last log lines:" >&2; tail -n 40 "$DIR/node.log" >&2; rm -f "$DIR/elasticsearch.pid"; exit 1
  fi
  if [ "$(( $(date +%s) - start ))" -ge "$TIMEOUT" ]; then
    echo "start.sh: not healthy after ${TIMEOUT}s; stopping it" >&2; ELASTICSEARCH_DIR="$DIR" "$HERE/stop.sh" >&2 || true; exit 1
  fi
  if grep -q STARTED "$DIR/node.log" && curl -fsS -o /dev/null "$url/_cluster/health?wait_for_status=yellow&timeout=1s" 2>/dev/null; then
    break
  fi
  sleep 0.5
done
printf 'export ELASTICSEARCH_URL=%s\nexport ELASTICSEARCH_DIR=%s\n' "$url" "$DIR" > "$DIR/elasticsearch.env"
echo "start.sh: elasticsearch pid $PID healthy at $url after $(( $(date +%s) - start ))s (heap $HEAP)" >&2
cat "$DIR/elasticsearch.env"
