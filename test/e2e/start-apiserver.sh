#!/usr/bin/env bash
# Start kube-apiserver on 127.0.0.1 with file audit logging (lumberjack rotation) into
# $KAPI/audit/audit.log. Env: KAPI, K8S_BIN (dir holding kube-apiserver), KAPI_PORT (6443),
# ETCD_PORT (2379), AUDIT_MAXSIZE (MB, default 1), AUDIT_MAXBACKUP (default 4),
# AUDIT_COMPRESS (default true).
: "${KAPI:?set KAPI to a work folder}"
: "${K8S_BIN:?set K8S_BIN to the directory holding kube-apiserver}"
set -euo pipefail
C=$KAPI/certs
PORT=${KAPI_PORT:-6443}
AUDIT_DIR=$KAPI/audit
mkdir -p "$KAPI/logs" "$KAPI/run" "$AUDIT_DIR"
ARGS=(
  --bind-address=127.0.0.1 --secure-port="$PORT" --advertise-address=127.0.0.1
  --endpoint-reconciler-type=none
  --etcd-servers="http://127.0.0.1:${ETCD_PORT:-2379}"
  --tls-cert-file="$C/apiserver.crt" --tls-private-key-file="$C/apiserver.key"
  --client-ca-file="$C/ca.crt"
  --token-auth-file="$C/tokens.csv"
  --authorization-mode=RBAC
  --enable-admission-plugins=PodSecurity
  --service-account-issuer=https://kubernetes.default.svc.cluster.local
  --service-account-key-file="$C/sa.pub"
  --service-account-signing-key-file="$C/sa.key"
  --service-cluster-ip-range=10.0.0.0/24
  --audit-policy-file="$(dirname "$0")/audit-policy.yaml"
  --audit-log-path="$AUDIT_DIR/audit.log"
  --audit-log-format=json
  --audit-log-maxsize="${AUDIT_MAXSIZE:-1}"
  --audit-log-maxbackup="${AUDIT_MAXBACKUP:-4}"
  --audit-log-compress="${AUDIT_COMPRESS:-true}"
  --v=1
)
printf '%s\n' "${ARGS[@]}" > "$KAPI/run/apiserver.flags"
nohup "$K8S_BIN/kube-apiserver" "${ARGS[@]}" > "$KAPI/logs/apiserver.log" 2>&1 &
echo $! > "$KAPI/run/apiserver.pid"
for i in $(seq 1 300); do
  if curl -fsS --cacert "$C/ca.crt" "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then
    echo "kube-apiserver ready after $((i / 5))s pid=$(cat "$KAPI/run/apiserver.pid")" >&2; exit 0
  fi
  kill -0 "$(cat "$KAPI/run/apiserver.pid")" 2>/dev/null || { echo "kube-apiserver exited" >&2; tail -30 "$KAPI/logs/apiserver.log" >&2; exit 1; }
  sleep 0.2
done
echo "kube-apiserver not ready" >&2; tail -30 "$KAPI/logs/apiserver.log" >&2; exit 1
