#!/usr/bin/env bash
# The kube-apiserver "peer" of test/e2e: builds kube-apiserver and kubectl from the Go module
# proxy (cached under ${XDG_CACHE_HOME:-$HOME/.cache}/kubetrail/kube-apiserver, so a warm
# machine skips the 5-15 minute build), installs Debian's etcd-server when etcd is missing,
# and prints the export line the e2e test reads. It starts nothing: the test starts etcd and
# the apiserver itself, after the agent, on free loopback ports (test/e2e/*.sh).
#   eval "$(test/peers/kube-apiserver/start.sh)"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v etcd >/dev/null; then
  echo "installing etcd-server (Debian)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y -qq etcd-server >&2
fi
bin=$("$here/../../e2e/build-k8s.sh")
echo "export KUBETRAIL_K8S_BIN=$bin"
