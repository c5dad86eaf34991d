#!/usr/bin/env bash
# Build a real kube-apiserver and kubectl from the Go module proxy (no git clone), cached under
# ${XDG_CACHE_HOME:-$HOME/.cache}/kubetrail/kube-apiserver/<version>/bin so a warm machine skips it.
#
# k8s.io/kubernetes requires its staging modules at v0.0.0 with replace => ./staging/...;
# replace directives of a dependency are not inherited, so a scratch module maps each staging
# module to its v0.MINOR.PATCH tag. Both binaries come from one module (shared compile cache).
# Prints the bin directory on stdout; progress and timings on stderr.
set -euo pipefail
KVER=${KVER:-v1.34.4}                 # k8s.io/kubernetes version
SVER=${SVER:-v0.${KVER#v1.}}          # matching staging version, e.g. v0.34.4
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/kubetrail/kube-apiserver/$KVER
BIN=$CACHE/bin
if [[ -x $BIN/kube-apiserver && -x $BIN/kubectl ]]; then
  echo "kube-apiserver and kubectl $KVER cached in $BIN" >&2
  echo "$BIN"
  exit 0
fi
BUILD=$CACHE/build
mkdir -p "$BUILD" "$BIN"
cd "$BUILD"
export GOFLAGS=-mod=mod

start=$(date +%s)
go mod download k8s.io/kubernetes@"$KVER" >&2
KMOD=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KVER.mod
{
  echo "module kapibuild"
  echo
  echo "go 1.24.0"
  echo
  echo "require k8s.io/kubernetes $KVER"
  echo
  echo "replace ("
  for m in $(awk '/=> \.\/staging\//{print $1}' "$KMOD"); do
    if grep -qE "^[[:space:]]+$m v0\.0\.0$" "$KMOD"; then
      echo "	$m => $m $SVER"
    fi
  done
  echo ")"
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package kapibuild

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
go mod tidy -e >/dev/null 2>&1 || true
go get k8s.io/kubernetes/cmd/kube-apiserver@"$KVER" k8s.io/kubernetes/cmd/kubectl@"$KVER" >&2
t_deps=$(date +%s)

MINOR=${KVER#v1.}; MINOR=${MINOR%%.*}
LDFLAGS="-s -w \
 -X k8s.io/component-base/version.gitVersion=$KVER \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=$MINOR \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/component-base/version.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ) \
 -X k8s.io/client-go/pkg/version.gitVersion=$KVER \
 -X k8s.io/client-go/pkg/version.gitMajor=1 \
 -X k8s.io/client-go/pkg/version.gitMinor=$MINOR"
go build -trimpath -ldflags "$LDFLAGS" -o "$BUILD/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
t_api=$(date +%s)
go build -trimpath -ldflags "$LDFLAGS" -o "$BUILD/kubectl" k8s.io/kubernetes/cmd/kubectl >&2
end=$(date +%s)
mv "$BUILD/kube-apiserver" "$BUILD/kubectl" "$BIN/"
echo "k8s build $KVER: deps(download+resolve) $((t_deps-start))s, kube-apiserver compile $((t_api-t_deps))s, kubectl compile $((end-t_api))s, total $((end-start))s" | tee "$CACHE/build-times.txt" >&2
"$BIN/kube-apiserver" --version >&2
echo "$BIN"
