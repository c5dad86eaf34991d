// Package e2e runs kubetrail against the real producer: a kube-apiserver
// built from the Go module proxy (test/e2e/build-k8s.sh), with etcd, writing
// its audit log with lumberjack rotation (--audit-log-maxsize=1, a small
// --audit-log-maxbackup, --audit-log-compress). Its test starts the agent
// binary first, drives a kubectl workload as several users, kills and
// restarts the agent, and compares what arrived with every audit file the
// apiserver ever wrote (hard-linked as they appear). It also checks the
// loss report when the apiserver deletes unread backups, scrapes /metrics
// during a run, and validates deploy/daemonset with server-side dry runs.
//
// The scripts here hold the cluster recipe (certs.sh, start-etcd.sh,
// start-apiserver.sh, workload.sh, stop.sh); test/peers/kube-apiserver/start.sh
// builds the binaries and exports KUBETRAIL_K8S_BIN for the test.
package e2e
