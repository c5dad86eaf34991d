#!/usr/bin/env bash
# "Starts" the Python plugin peer: there is no server, only the interpreter
# with the example's requirements, which the plugin tests run the Python
# example with. Prints `export KUBETRAIL_PLUGIN_PYTHON=...` on stdout.
#
#   eval "$(test/peers/python-plugin/start.sh)"
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="$("$here/fetch.sh")"
"$py" -c 'import grpc; import sys; print("start.sh: grpcio", grpc.__version__, "on", sys.version.split()[0], file=sys.stderr)'
echo "export KUBETRAIL_PLUGIN_PYTHON=$py"
