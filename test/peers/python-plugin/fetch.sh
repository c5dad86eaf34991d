#!/usr/bin/env bash
# Prepare the Python that runs plugins/examples/python-webhook: a venv with
# its requirements.txt (grpcio and friends from PyPI), cached under
# ${XDG_CACHE_HOME:-$HOME/.cache}/kubetrail/python-plugin and rebuilt only
# when requirements.txt changes. Prints the venv's python on stdout.
#
# Env: KUBETRAIL_PYTHON_BASE  the python3 to make the venv with (default python3)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="$here/../../../plugins/examples/python-webhook/requirements.txt"
log() { echo "fetch.sh: $*" >&2; }

base="${KUBETRAIL_PYTHON_BASE:-python3}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/kubetrail/python-plugin"
sum="$(sha256sum "$req" | cut -c1-16)"
venv="$cache/venv-$sum"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import grpc, grpc_health, google.protobuf, cryptography' 2>/dev/null; then
  log "creating $venv"
  rm -rf "$venv"
  mkdir -p "$cache"
  "$base" -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
fi
echo "$venv/bin/python"
