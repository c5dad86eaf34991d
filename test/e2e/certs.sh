#!/usr/bin/env bash
# CA, serving cert for 127.0.0.1, service-account key pair, static tokens and one kubeconfig
# per user under $KAPI/certs. Env: KAPI (work folder), KAPI_PORT (default 6443), KUBECTL.
: "${KAPI:?set KAPI to a work folder}"
set -euo pipefail
KUBECTL=${KUBECTL:-kubectl}
PORT=${KAPI_PORT:-6443}
C=$KAPI/certs
mkdir -p "$C"; cd "$C"
openssl genrsa -out ca.key 2048 2>/dev/null
openssl req -x509 -new -key ca.key -sha256 -days 30 -subj "/CN=kubetrail-e2e-ca" -out ca.crt
openssl genrsa -out apiserver.key 2048 2>/dev/null
cat > apiserver.cnf <<CNF
[req]
distinguished_name = dn
[dn]
[v3]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:10.0.0.1, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc
CNF
openssl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr
openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -sha256 \
  -extfile apiserver.cnf -extensions v3 -out apiserver.crt 2>/dev/null
openssl genrsa -out sa.key 2048 2>/dev/null
openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
# static tokens: token,user,uid,"group1,group2"
tok() { openssl rand -hex 16; }
ADMIN=$(tok); ALICE=$(tok); BOB=$(tok); SA=$(tok)
cat > tokens.csv <<TOK
$ADMIN,admin,uid-admin,"system:masters"
$ALICE,alice,uid-alice,"dev-team,system:authenticated"
$BOB,bob,uid-bob,"qa-team"
$SA,system:serviceaccount:team-a:deployer,uid-sa-deployer,"system:serviceaccounts,system:serviceaccounts:team-a"
TOK
chmod 600 tokens.csv ./*.key
mk() { # name token
  local kc=$C/$1.kubeconfig
  "$KUBECTL" --kubeconfig "$kc" config set-cluster e2e --server="https://127.0.0.1:$PORT" --certificate-authority="$C/ca.crt" --embed-certs=true >/dev/null
  "$KUBECTL" --kubeconfig "$kc" config set-credentials "$1" --token="$2" >/dev/null
  "$KUBECTL" --kubeconfig "$kc" config set-context "$1" --cluster=e2e --user="$1" >/dev/null
  "$KUBECTL" --kubeconfig "$kc" config use-context "$1" >/dev/null
}
mk admin "$ADMIN"; mk alice "$ALICE"; mk bob "$BOB"; mk deployer "$SA"
mk badtoken deadbeefdeadbeefdeadbeefdeadbeef
echo "certs, tokens and kubeconfigs in $C" >&2
