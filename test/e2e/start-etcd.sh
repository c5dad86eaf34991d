#!/usr/bin/env bash
# Start a single-node etcd (Debian's etcd-server) on 127.0.0.1 with its data under $KAPI/etcd.
# Env: KAPI, ETCD_PORT (default 2379), ETCD_PEER_PORT (default 2380).
: "${KAPI:?set KAPI to a work folder}"
set -euo pipefail
CP=${ETCD_PORT:-2379}; PP=${ETCD_PEER_PORT:-2380}
mkdir -p "$KAPI/etcd" "$KAPI/logs" "$KAPI/run"
command -v etcd >/dev/null || { echo "etcd not installed: apt-get install -y etcd-server" >&2; exit 1; }
nohup etcd --name e2e --data-dir "$KAPI/etcd" \
  --listen-client-urls "http://127.0.0.1:$CP" --advertise-client-urls "http://127.0.0.1:$CP" \
  --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
  --initial-cluster "e2e=http://127.0.0.1:$PP" --initial-cluster-state new \
  --unsafe-no-fsync \
  > "$KAPI/logs/etcd.log" 2>&1 &
echo $! > "$KAPI/run/etcd.pid"
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$CP/health" >/dev/null 2>&1; then echo "etcd up pid=$(cat "$KAPI/run/etcd.pid")" >&2; exit 0; fi
  sleep 0.2
done
echo "etcd did not come up" >&2; tail -20 "$KAPI/logs/etcd.log" >&2; exit 1
