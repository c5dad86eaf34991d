#!/usr/bin/env bash
# Build the Splunk HEC test peer (receiver/, a Go module of its own: the
# OpenTelemetry Collector's splunk_hec receiver with the ack and
# bearertokenauth extensions) and print the binary's path on stdout.
# Cached under ${XDG_CACHE_HOME:-$HOME/.cache}/kubetrail/splunkhec, keyed by a
# hash of the module's files, so a warm machine returns at once.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${SPLUNKHEC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubetrail/splunkhec}"
key="$(cd "$here/receiver" && cat go.mod go.sum *.go | sha256sum | cut -c1-16)"
bin="$cache/kubetrail-hec-receiver-$key"

if [[ ! -x "$bin" ]]; then
  mkdir -p "$cache"
  echo "fetch.sh: building the HEC receiver (first time: downloads the collector modules, a few minutes)" >&2
  t0=$SECONDS
  (cd "$here/receiver" && GOFLAGS=-buildvcs=false go build -trimpath -o "$bin.tmp" .) >&2
  mv "$bin.tmp" "$bin"
  echo "fetch.sh: built $bin in $((SECONDS - t0)) s" >&2
fi
echo "$bin"
