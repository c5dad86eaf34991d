#!/usr/bin/env bash
# Make sure a moto server (an AWS emulator, https://github.com/getmoto/moto) is
# installed and print the path of its moto_server binary on stdout.
#
# Uses moto_server from PATH when there is one (these machines have it);
# otherwise pip-installs moto[server]==$MOTO_VERSION into a virtualenv cached
# under ${XDG_CACHE_HOME:-$HOME/.cache}/kubetrail/moto (about 25 s, then
# instant).
#
# Env (optional): MOTO_VERSION (default 5.2.1), MOTO_CACHE, PYTHON (default python3).
set -euo pipefail
log() { echo "fetch.sh: $*" >&2; }

if [[ -z "${MOTO_FORCE_VENV:-}" ]] && bin="$(command -v moto_server)"; then
  echo "$bin"; exit 0
fi
version="${MOTO_VERSION:-5.2.1}"
cache="${MOTO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubetrail/moto}"
venv="$cache/venv-$version"
if [[ ! -x "$venv/bin/moto_server" ]]; then
  py="${PYTHON:-python3}"
  log "installing moto[server]==$version into $venv"
  rm -rf "$venv"
  if ! { "$py" -m venv "$venv" >&2 &&
         "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$version" >&2; }; then
    rm -rf "$venv"; log "pip install failed"; exit 1
  fi
fi
echo "$venv/bin/moto_server"
