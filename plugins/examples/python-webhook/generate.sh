#!/bin/sh
# Regenerates kubetrail_plugin/output_pb2*.py from the protocol's .proto.
# Needs grpcio-tools (pip install grpcio-tools==1.84.0); the generated files
# are checked in, so running the plugin does not need it.
set -eu
cd "$(dirname "$0")"
python3 -m grpc_tools.protoc -I ../../proto \
  --python_out=kubetrail_plugin --grpc_python_out=kubetrail_plugin output.proto
# grpc_tools writes an absolute import; make it package-relative.
sed -i 's/^import output_pb2 as/from . import output_pb2 as/' kubetrail_plugin/output_pb2_grpc.py
