#!/usr/bin/env bash
# kubectl and curl traffic against the e2e kube-apiserver as several users: admin
# (system:masters), alice (dev-team), bob (qa-team), a static-token service-account look-alike,
# a real ServiceAccount token, a bad token and anonymous. Secrets, RBAC, pods, patches,
# server-side apply, impersonation, watches, denials (401/403/404/409/422), large objects and
# one pod whose audit event is larger than --audit-log-maxsize.
# Usage: workload.sh full|burst. Env: KAPI, K8S_BIN (kubectl), KAPI_PORT, BURST (iterations of
# the burst loop, default 60), TAG (name prefix for burst objects, default b), PACE_MS (start
# burst iterations on a clock, one every PACE_MS ms, catching up at once when late: a steady
# rate whatever the machine's load, as long as an iteration usually takes less). The burst
# loop ends early when $KAPI/workload/stop-$TAG exists.
: "${KAPI:?set KAPI to a work folder}"
: "${K8S_BIN:?set K8S_BIN to the directory holding kubectl}"
set -uo pipefail
MODE=${1:-full}
C=$KAPI/certs
BURST=${BURST:-60}
TAG=${TAG:-b}
SERVER=https://127.0.0.1:${KAPI_PORT:-6443}
W=$KAPI/workload; mkdir -p "$W"
export HOME=$W/home; mkdir -p "$HOME"      # kubectl's discovery cache
K=$K8S_BIN/kubectl
ka()  { "$K" --kubeconfig "$C/admin.kubeconfig" "$@"; }
kal() { "$K" --kubeconfig "$C/alice.kubeconfig" "$@"; }
kb()  { "$K" --kubeconfig "$C/bob.kubeconfig" "$@"; }
kd()  { "$K" --kubeconfig "$C/deployer.kubeconfig" "$@"; }
kx()  { "$K" --kubeconfig "$C/badtoken.kubeconfig" "$@"; }
tok() { awk -F, -v u="$1" '$2==u{print $1}' "$C/tokens.csv"; }
T_ADMIN=$(tok admin); T_ALICE=$(tok alice); T_BOB=$(tok bob); T_DEPLOYER=$(tok system:serviceaccount:team-a:deployer)
# api TOKEN METHOD PATH [BODY] [CONTENT-TYPE]: prints the HTTP code
api() {
  local t=$1 m=$2 p=$3 d=${4:-} ct=${5:-application/json}
  local auth=(); [ -n "$t" ] && auth=(-H "Authorization: Bearer $t")
  if [ -n "$d" ]; then
    curl -sS -o /dev/null -w '%{http_code} ' --cacert "$C/ca.crt" "${auth[@]}" -X "$m" -H "Content-Type: $ct" --data-binary "$d" "$SERVER$p"
  else
    curl -sS -o /dev/null -w '%{http_code} ' --cacert "$C/ca.crt" "${auth[@]}" -X "$m" "$SERVER$p"
  fi
}
step() { echo; echo "== $(date -u +%T) $*"; }
# plant VALUE: a Secret value the workload writes, for the test to look for
# in everything the agent wrote (it must find none: the redact processor).
plant() { printf '%s\n' "$1" >> "$W/planted.txt"; }
# blob N: N characters of base64 (no JSON escaping needed)
blob() { head -c $(( $1 * 3 / 4 + 3 )) /dev/urandom | base64 -w0 | head -c "$1"; }
# bigpod NAME NS BYTES: a pod manifest with a BYTES-long annotation (annotations: 256 KiB max)
bigpod() {
  printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"%s","annotations":{"example.com/blob":"%s"}},"spec":{"containers":[{"name":"c","image":"busybox:1.36"}]}}' "$1" "$2" "$(blob "$3")"
}

full() {
step "namespaces + service accounts (no controller-manager: 'default' SAs by hand)"
for ns in team-a team-b audit-test; do ka create namespace $ns; done
for ns in default team-a team-b audit-test; do ka -n $ns create serviceaccount default; done
ka -n team-a create serviceaccount deployer
ka label namespace team-a env=dev owner=alice
ka annotate namespace team-b note="qa sandbox"

step "RBAC (client-side apply)"
ka apply -f - <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pod-reader}
rules:
- apiGroups: [""]
  resources: ["pods", "pods/log"]
  verbs: ["get", "list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: namespace-viewer}
rules:
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: developer, namespace: team-a}
rules:
- apiGroups: ["", "apps"]
  resources: ["pods", "pods/log", "services", "configmaps", "secrets", "deployments", "deployments/scale", "serviceaccounts", "events"]
  verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-developer, namespace: team-a}
subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: Role, name: developer, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deployer, namespace: team-a}
rules:
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: deployer, namespace: team-a}
subjects: [{kind: ServiceAccount, name: deployer, namespace: team-a}]
roleRef: {kind: Role, name: deployer, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: bob-pod-reader}
subjects: [{kind: User, name: bob, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: ClusterRole, name: pod-reader, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: dev-team-namespace-viewer}
subjects: [{kind: Group, name: dev-team, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: ClusterRole, name: namespace-viewer, apiGroup: rbac.authorization.k8s.io}
YAML
ka create rolebinding bob-view-team-b -n team-b --clusterrole=pod-reader --user=bob
ka patch clusterrole pod-reader --type=json -p '[{"op":"add","path":"/rules/0/verbs/-","value":"watch"}]'
ka -n team-b delete rolebinding bob-view-team-b

step "alice: secrets and configmaps"
pw=pw-$(openssl rand -hex 12); key=$(openssl rand -base64 48); plant "$pw"; plant "$key"
kal -n team-a create secret generic db-creds --from-literal=username=app --from-literal=password="$pw"
kal -n team-a create secret generic api-key --from-literal=key="$key"
kal -n team-a create configmap app-config --from-literal=LOG_LEVEL=info
kal -n team-a get secrets
kal -n team-a get secret db-creds -o yaml >/dev/null
kal -n team-a patch configmap app-config -p '{"data":{"LOG_LEVEL":"debug"}}'
kal -n team-a create configmap app-config --from-literal=x=y || true          # 409
kal -n team-a create configmap dry-run-cm --from-literal=a=b --dry-run=server

step "alice: deployments, services, pods (they stay Pending: no scheduler)"
kal -n team-a create deployment web --image=nginx:1.27 --replicas=3
kal -n team-a expose deployment web --port=80 --target-port=8080
kal -n team-a run debug --image=busybox:1.36 --restart=Never --labels=app=debug -- sleep 3600
kal -n team-a label pod debug tier=debug
kal -n team-a scale deployment web --replicas=5
kal -n team-a set image deployment/web nginx=nginx:1.28
kal -n team-a get pods -o wide
kal -n team-a get pod worker-does-not-exist || true                          # 404
kal -n team-a create configmap Bad_Name --from-literal=a=b || true           # 422
kal -n team-a apply --server-side --field-manager=alice-ssa -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: team-a, labels: {managed-by: ssa}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: nginx, image: "nginx:1.28"}]}
YAML
kal -n team-a delete pod debug --wait=false

step "deployer (static-token service-account look-alike)"
kd -n team-a create deployment api --image=registry.example.invalid/api:1.0
kd -n team-a patch deployment api -p '{"spec":{"replicas":2}}'
kd -n team-a get pods || true                                              # 403
kd -n team-b get deployments || true                                       # 403

step "real ServiceAccount token (TokenRequest), then used"
SA_TOKEN=$(ka -n team-a create token deployer --duration=10m)
echo "list deployments as SA: $(api "$SA_TOKEN" GET /apis/apps/v1/namespaces/team-a/deployments)"
echo "get secrets as SA (403): $(api "$SA_TOKEN" GET /api/v1/namespaces/team-a/secrets)"

step "bob: reads ok, writes and secrets forbidden"
kb get pods -A
kb -n team-a get secrets || true
kb -n team-a create configmap bob-cm --from-literal=a=b || true
kb auth can-i create pods -n team-a || true

step "impersonation"
ka --as=alice -n team-a get pods
ka --as=bob --as-group=qa-team -n team-a get secrets || true               # 403

step "authn failures: bad token (401), anonymous (403), malformed body (400)"
kx get pods -n team-a || true
echo "anonymous list ns: $(api '' GET /api/v1/namespaces)"
echo "malformed json: $(api "$T_ALICE" POST /api/v1/namespaces/team-a/configmaps '{"apiVersion":"v1","kind":"ConfigMap",')"

step "watches: bob watches pods while alice churns them"
kb -n team-a get pods -w > "$W/watch.out" 2>&1 &
WPID=$!
echo "curl watch: $(api "$T_BOB" GET '/api/v1/namespaces/team-a/pods?watch=true&timeoutSeconds=4')" &
CPID=$!
sleep 1
for i in 1 2 3; do kal -n team-a run churn-$i --image=busybox:1.36 --restart=Never -- sleep 60; done
kal -n team-a delete pod churn-1 churn-2 churn-3 --wait=false
sleep 4
kill "$WPID" 2>/dev/null; wait "$WPID" 2>/dev/null; wait "$CPID"
echo "watch saw $(wc -l < "$W/watch.out") lines"

step "large objects: a 200 KB annotation, and one pod whose event is larger than the log's maxsize"
bigpod big-annotated team-a 200000 > "$W/bigpod.json"
kal -n team-a create -f "$W/bigpod.json"
kal -n team-a delete pod big-annotated --wait=false
printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"huge","namespace":"team-a"},"spec":{"containers":[{"name":"c","image":"busybox:1.36","env":[{"name":"BLOB","value":"%s"}]}]}}' "$(blob 640000)" > "$W/hugepod.json"
kal -n team-a create -f "$W/hugepod.json"      # request + response > 1 MB: lumberjack refuses the line
kal -n team-a delete pod huge --wait=false
ka -n audit-test create role developer --verb='*' --resource=pods,configmaps,secrets,services
ka -n audit-test create rolebinding alice-dev --role=developer --user=alice
}

burst() {
step "burst: $BURST iterations of curl traffic ($TAG)"
local ns=audit-test start=$SECONDS
local t0; t0=$(date +%s%3N)
for i in $(seq 1 "$BURST"); do
  [ -e "$W/stop-$TAG" ] && { echo "stopped at iteration $i ($W/stop-$TAG)"; break; }
  if [ -n "${PACE_MS:-}" ]; then  # iteration i starts at t0 + (i-1)*PACE_MS, or at once when late
    local wait=$(( t0 + (i - 1) * PACE_MS - $(date +%s%3N) ))
    (( wait > 0 )) && sleep "$(printf '%d.%03d' $((wait / 1000)) $((wait % 1000)))"
  fi
  local n=$TAG-$i codes=""
  codes+=$(api "$T_ALICE" POST /api/v1/namespaces/$ns/configmaps "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"$n\"},\"data\":{\"payload\":\"$(blob 800)\"}}")
  codes+=$(api "$T_ALICE" PATCH /api/v1/namespaces/$ns/configmaps/$n '{"data":{"patched":"true"}}' application/merge-patch+json)
  codes+=$(api "$T_ADMIN" POST /api/v1/namespaces/$ns/pods "$(bigpod "$n" $ns 30000)")
  codes+=$(api "$T_ALICE" GET /api/v1/namespaces/$ns/pods/$n)
  codes+=$(api "$T_ADMIN" PATCH /api/v1/namespaces/$ns/pods/$n "{\"metadata\":{\"labels\":{\"stage\":\"s$((i%3))\"}}}" application/strategic-merge-patch+json)
  local tokv; tokv=tok-$(openssl rand -hex 16); plant "$tokv"
  codes+=$(api "$T_ALICE" POST /api/v1/namespaces/$ns/secrets "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"$n\"},\"stringData\":{\"token\":\"$tokv\"}}")
  codes+=$(api "$T_ALICE" PATCH /api/v1/namespaces/$ns/secrets/$n "{\"stringData\":{\"rotated\":\"$tokv-2\"}}" application/merge-patch+json)
  codes+=$(api "$T_ALICE" GET /api/v1/namespaces/$ns/secrets/$n)
  codes+=$(api "$T_ALICE" DELETE /api/v1/namespaces/$ns/secrets/$n)
  codes+=$(api "$T_ADMIN" DELETE /api/v1/namespaces/$ns/pods/$n)
  codes+=$(api "$T_ALICE" DELETE /api/v1/namespaces/$ns/configmaps/$n)
  codes+=$(api "$T_DEPLOYER" GET /apis/apps/v1/namespaces/team-a/deployments)
  codes+=$(api "$T_BOB" GET /api/v1/namespaces/team-a/secrets)                     # 403
  if (( i % 5 == 0 )); then
    codes+=$(api "deadbeef$i" GET /api/v1/namespaces/team-a/pods)                   # 401
    codes+=$(api "$T_ALICE" GET /api/v1/namespaces/team-a/pods/nope-$i)             # 404
    codes+=$(api "$T_ADMIN" POST /apis/rbac.authorization.k8s.io/v1/namespaces/$ns/rolebindings "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"RoleBinding\",\"metadata\":{\"name\":\"$n\"},\"subjects\":[{\"kind\":\"User\",\"name\":\"bob\",\"apiGroup\":\"rbac.authorization.k8s.io\"}],\"roleRef\":{\"kind\":\"Role\",\"name\":\"developer\",\"apiGroup\":\"rbac.authorization.k8s.io\"}}")
    codes+=$(api "$T_ADMIN" DELETE /apis/rbac.authorization.k8s.io/v1/namespaces/$ns/rolebindings/$n)
  fi
  if (( i % 10 == 0 )); then
    echo "  iter $i codes: $codes ($((SECONDS - start)) s, audit dir $(du -sb "$KAPI/audit" | cut -f1) B)"
  fi
done
echo "burst done in $((SECONDS - start)) s"
}

case "$MODE" in
full) full; burst ;;
burst) burst ;;
*) echo "usage: workload.sh full|burst" >&2; exit 2 ;;
esac
