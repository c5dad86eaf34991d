#!/usr/bin/env bash
# Build the agent image without a Docker engine: Debian's buildah, from scratch (the binary
# is static), written as an OCI archive. The same content as the Dockerfile's final stage:
# the binary with the file capability cap_dac_read_search=ep (buildah keeps the
# security.capability xattr in the layer), the CA bundle for TLS to the sinks, the default
# configuration, user 65532:65532.
#   test/image/build-oci.sh OUT.tar [VERSION]
# Load it with `podman load -i OUT.tar` or push it with `skopeo copy oci-archive:OUT.tar docker://...`.
set -euo pipefail
out=${1:?usage: build-oci.sh OUT.tar [VERSION]}
version=${2:-dev}
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v buildah >/dev/null || { echo "buildah not installed (Debian: apt-get install buildah)" >&2; exit 1; }
# vfs storage and chroot isolation: no overlay mounts, no user namespaces needed.
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
export CONTAINERS_STORAGE_CONF=${CONTAINERS_STORAGE_CONF:-/dev/null}
work=$(mktemp -d)
trap 'rm -rf "$work"; [ -n "${ctr:-}" ] && buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
# The Dockerfile's build stage.
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$work/agent" ./cmd/agent)
setcap cap_dac_read_search=+ep "$work/agent"
ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || { echo "no CA bundle at $ca (Debian: apt-get install ca-certificates)" >&2; exit 1; }
ctr=$(buildah from scratch)
buildah copy --chmod 0755 "$ctr" "$work/agent" /usr/local/bin/agent >/dev/null
buildah copy --chmod 0644 "$ctr" "$ca" /etc/ssl/certs/ca-certificates.crt >/dev/null
buildah copy --chmod 0644 "$ctr" "$root/deploy/daemonset/base/agent.yaml" /etc/kubetrail/agent.yaml >/dev/null
buildah config --user 65532:65532 --port 9108/tcp \
  --entrypoint '["/usr/local/bin/agent"]' --cmd 'run -c /etc/kubetrail/agent.yaml' \
  --label org.opencontainers.image.title=kubetrail --label "org.opencontainers.image.version=$version" "$ctr"
rm -f "$out"
buildah commit --quiet --format oci "$ctr" "oci-archive:$out:kubetrail/agent:$version" >/dev/null
echo "image kubetrail/agent:$version written to $out" >&2
