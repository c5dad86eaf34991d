#!/usr/bin/env bash
# Start a single-node Apache Kafka (KRaft, combined broker+controller) on 127.0.0.1 in the
# background, wait until it answers Metadata, print the listeners as `export K=V` lines on
# stdout (also written to $KAFKA_DIR/kafka.env) and write $KAFKA_DIR/kafka.pid.
#
#   eval "$(test/peers/kafka/start.sh)"      # then: go test ./...; test/peers/kafka/stop.sh
#
# Env (all optional):
#   KAFKA_DIR            work dir (config, TLS files, data, log, pid). Default: a new
#                        mktemp -d. If it already holds a formatted broker, it is restarted
#                        on the same data and the same ports (no re-format).
#   KAFKA_PORT_BASE      ports BASE..BASE+3 = PLAINTEXT, CONTROLLER, SASL_PLAINTEXT, SSL.
#                        Default 19092, or a random free base if 19092-19095 are taken.
#   KAFKA_VERSION, KAFKA_CACHE, KAFKA_M2   passed to fetch.sh (run first, cached).
#   KAFKA_SASL_USER / KAFKA_SASL_PASSWORD  default alice / alice-secret (SCRAM + PLAIN).
#   KAFKA_EXTRA_PROPS    extra server.properties lines (newline separated), e.g.
#                        $'message.max.bytes=65536\nauto.create.topics.enable=false'
#   KAFKA_HEAP_OPTS      default "-Xms128m -Xmx512m"
#   KAFKA_JVM_OPTS       default "-XX:+UseSerialGC -XX:TieredStopAtLevel=1" (fast start, 2 cores)
#   KAFKA_START_TIMEOUT  seconds to wait for readiness, default 120
#   KAFKA_JAVA           java binary (17+), default: java on PATH
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { echo "start.sh: $*" >&2; }

java_bin="${KAFKA_JAVA:-java}"
jv="$("$java_bin" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
[[ -n "$jv" && "$jv" -ge 17 ]] || { log "Kafka 4.x needs Java 17+; '$java_bin' is '${jv:-missing}'"; exit 1; }

lib="$("$here/fetch.sh")"
[[ -f "$lib/kafka-clients-${KAFKA_VERSION:-4.1.1}.jar" ]] || { log "no jars in $lib"; exit 1; }

KAFKA_DIR="${KAFKA_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/kafka-peer.XXXXXX")}"
mkdir -p "$KAFKA_DIR"
KAFKA_DIR="$(cd "$KAFKA_DIR" && pwd)"
dir="$KAFKA_DIR"

our_broker() { kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "$dir/server.properties"; }
if [[ -f "$dir/kafka.pid" ]] && our_broker "$(cat "$dir/kafka.pid")"; then
  log "a broker is already running from $dir (pid $(cat "$dir/kafka.pid")); run stop.sh first"
  exit 1
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ports_free() { local p; for p in "$1" $(($1 + 1)) $(($1 + 2)) $(($1 + 3)); do port_busy "$p" && return 1; done; return 0; }

if [[ -f "$dir/kafka.env" ]]; then
  # Restart on the same dirs: keep the ports the clients (and the metadata log) know.
  base="$(sed -n 's/^export KAFKA_PORT_BASE=//p' "$dir/kafka.env")"
elif [[ -n "${KAFKA_PORT_BASE:-}" ]]; then
  base="$KAFKA_PORT_BASE"
else
  base=19092
  tries=0
  while ! ports_free "$base"; do
    tries=$((tries + 1)); [[ $tries -le 50 ]] || { log "no 4 free ports found"; exit 1; }
    base=$((20000 + (RANDOM % 2000) * 4))
  done
fi
ports_free "$base" || { log "ports $base..$((base + 3)) on 127.0.0.1 are in use"; exit 1; }
p_plain=$base; p_ctrl=$((base + 1)); p_sasl=$((base + 2)); p_ssl=$((base + 3))

user="${KAFKA_SASL_USER:-alice}"
pass="${KAFKA_SASL_PASSWORD:-alice-secret}"

# --- TLS: self-signed CA + server cert for 127.0.0.1/localhost, PEM keystore (no keytool) ---
tls="$dir/tls"
if [[ ! -f "$tls/server-keystore.pem" ]]; then
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=kubetrail-test-ca" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$tls/ext.cnf"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 3650 -extfile "$tls/ext.cnf" -out "$tls/server.pem" 2>/dev/null
  # Kafka's PEM keystore: unencrypted PKCS#8 key + certificate chain in one file.
  { openssl pkcs8 -topk8 -nocrypt -in "$tls/server.key"; cat "$tls/server.pem" "$tls/ca.pem"; } \
    >"$tls/server-keystore.pem"
fi

# --- server.properties ---
cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$p_ctrl
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$p_plain,CONTROLLER://127.0.0.1:$p_ctrl,SASL_PLAINTEXT://127.0.0.1:$p_sasl,SSL://127.0.0.1:$p_ssl
advertised.listeners=PLAINTEXT://127.0.0.1:$p_plain,SASL_PLAINTEXT://127.0.0.1:$p_sasl,SSL://127.0.0.1:$p_ssl
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# After a kill -9 the restarted broker cannot register until its old session expires
# (DUPLICATE_BROKER_REGISTRATION): Kafka's 2000/9000 ms gave 13.9 s to ready, these 4.9 s.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
# SASL on the SASL_PLAINTEXT listener: SCRAM users are created at format time (--add-scram),
# PLAIN users are the user_<name>="<password>" options of the JAAS line.
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$user="$pass";
# TLS on the SSL listener (server auth only).
ssl.keystore.type=PEM
ssl.keystore.location=$tls/server-keystore.pem
ssl.client.auth=none
${KAFKA_EXTRA_PROPS:-}
EOF

cat >"$dir/kafka.env" <<EOF
export KAFKA_DIR='$dir'
export KAFKA_PORT_BASE=$base
export KAFKA_BOOTSTRAP=127.0.0.1:$p_plain
export KAFKA_SASL_BOOTSTRAP=127.0.0.1:$p_sasl
export KAFKA_SSL_BOOTSTRAP=127.0.0.1:$p_ssl
export KAFKA_CONTROLLER=127.0.0.1:$p_ctrl
export KAFKA_CA_FILE='$tls/ca.pem'
export KAFKA_SASL_USER='$user'
export KAFKA_SASL_PASSWORD='$pass'
EOF

heap="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
jvm="${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1}"
# shellcheck disable=SC2206
java_cmd=("$java_bin" $heap $jvm -Djava.awt.headless=true
  -Dorg.slf4j.simpleLogger.showDateTime=true
  -Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS
  -cp "$lib/*")

t0=$(date +%s%N)
if [[ ! -f "$dir/data/meta.properties" ]]; then
  # 22-char base64url of 16 random bytes, as `StorageTool random-uuid` makes. Like Kafka's
  # Uuid.randomUuid, avoid a leading '-': the argument parser would take it for an option.
  cid=-
  while [[ "$cid" == -* ]]; do cid="$(openssl rand -base64 16 | tr '+/' '-_' | tr -d '=\n')"; done
  "${java_cmd[@]}" kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" \
    --add-scram "SCRAM-SHA-512=[name=$user,password=$pass]" \
    --add-scram "SCRAM-SHA-256=[name=$user,password=$pass]" \
    >"$dir/format.log" 2>&1 || { grep -v '^	' "$dir/format.log" >&2; log "format failed; see $dir/format.log"; exit 1; }
fi
t1=$(date +%s%N)

nohup "${java_cmd[@]}" kafka.Kafka "$dir/server.properties" >>"$dir/kafka.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$dir/kafka.pid"

# Ready = the PLAINTEXT listener answers a Metadata v4 request listing >= 1 live broker.
metadata_brokers() {
  local out
  out="$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    # size=16 | api_key=3 (Metadata) v4 | corr=1 | client_id="x" | topics=[] | allow_auto=false
    printf "\x00\x00\x00\x10\x00\x03\x00\x04\x00\x00\x00\x01\x00\x01x\x00\x00\x00\x00\x00" >&3
    head -c 16 <&3 | od -An -tu1' _ "$1" 2>/dev/null)" || return 1
  # shellcheck disable=SC2086
  set -- $out
  [[ $# -eq 16 ]] || return 1
  echo $(( (${13} << 24) | (${14} << 16) | (${15} << 8) | ${16} ))
}

deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-120}))
until n="$(metadata_brokers "$p_plain")" && [[ "$n" -ge 1 ]]; do
  if ! kill -0 "$pid" 2>/dev/null; then
    log "broker exited during startup; ERROR/Exception lines of $dir/kafka.log:"
    grep -E ' ERROR |Exception' "$dir/kafka.log" | head -15 >&2 || tail -30 "$dir/kafka.log" >&2
    rm -f "$dir/kafka.pid"; exit 1
  fi
  if [[ $SECONDS -ge $deadline ]]; then
    log "not ready after ${KAFKA_START_TIMEOUT:-120}s; stopping pid $pid; see $dir/kafka.log"
    "$here/stop.sh" "$dir" || true; exit 1
  fi
  sleep 0.2
done
t2=$(date +%s%N)

# The TLS listener must complete a verified handshake for 127.0.0.1 with our CA.
if ! timeout 10 openssl s_client -connect "127.0.0.1:$p_ssl" -CAfile "$tls/ca.pem" \
     -verify_return_error -verify_ip 127.0.0.1 </dev/null >"$dir/tls-check.log" 2>&1; then
  log "TLS listener check failed; stopping pid $pid; see $dir/tls-check.log"
  "$here/stop.sh" "$dir" || true; exit 1
fi

log "ready: pid $pid, format $(( (t1 - t0) / 1000000 ))ms, launch->ready $(( (t2 - t1) / 1000000 ))ms, dir $dir"
cat "$dir/kafka.env"
