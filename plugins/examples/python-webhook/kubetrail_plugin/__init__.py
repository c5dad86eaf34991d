"""A minimal kubetrail output-plugin runtime for Python.

kubetrail runs output plugins through hashicorp/go-plugin over gRPC. This
module does the go-plugin side of that in ~150 lines so a plugin only
implements an ``Output`` (configure / write / health / close) and calls
``serve(output)``:

* checks the magic cookie and negotiates the protocol version;
* serves the ``kubetrail.plugin.v1.Output`` service (output.proto) plus the
  services go-plugin expects: grpc.health.v1 ("plugin" SERVING),
  plugin.GRPCController (Shutdown) and plugin.GRPCStdio;
* answers the host's automatic mTLS (PLUGIN_CLIENT_CERT): a fresh
  self-signed server certificate, the host's certificate as the only
  trusted client;
* prints the handshake line on stdout, then logs JSON lines on stderr that
  the agent forwards into its own log.
"""

import base64
import datetime
import json
import os
import signal
import sys
import threading
from concurrent import futures

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from . import output_pb2 as pb
from . import output_pb2_grpc as pb_grpc

PROTOCOL_VERSION = 1
COOKIE_KEY = "KUBETRAIL_PLUGIN"
COOKIE_VALUE = "output-9f3c2a7e"

OK = pb.Verdict.OK
RETRYABLE = pb.Verdict.RETRYABLE
PERMANENT = pb.Verdict.PERMANENT
UNREADY = pb.Verdict.UNREADY


class Verdict:
    """What happened to one event or to the whole batch."""

    def __init__(self, status, reason="", retry_after_ms=0):
        self.status, self.reason, self.retry_after_ms = status, reason, retry_after_ms

    def to_pb(self):
        return pb.Verdict(status=self.status, reason=self.reason, retry_after_ms=self.retry_after_ms)


class ConfigError(Exception):
    """Raised by Output.configure for a configuration the plugin rejects."""


class Output:
    """Subclass and override; see plugins/README.md for the contract."""

    def configure(self, name, config):
        """config is the output's `config` block, decoded from JSON."""

    def write(self, events):
        """events: list of (raw bytes, id str). Return None when every event
        was acknowledged, a Verdict for the whole batch, or a dict
        {index: Verdict} (events not named are acknowledged)."""
        raise NotImplementedError

    def health(self):
        """Return None when ready, else the reason (str)."""
        return None

    def close(self):
        pass


_log_lock = threading.Lock()


def log(level, message, **attrs):
    """Writes one log line in the format the agent parses from stderr."""
    line = {"@level": level, "@message": message,
            "@timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")}
    line.update(attrs)
    with _log_lock:
        sys.stderr.write(json.dumps(line, default=str) + "\n")
        sys.stderr.flush()


class _Servicer(pb_grpc.OutputServicer):
    def __init__(self, impl):
        self.impl = impl

    def Configure(self, request, context):
        try:
            cfg = json.loads(request.config_json or b"{}")
            self.impl.configure(request.name, cfg)
        except (ConfigError, ValueError, TypeError, KeyError) as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        return pb.ConfigureResponse()

    def Write(self, request, context):
        result = self.impl.write([(e.raw, e.id) for e in request.events])
        resp = pb.WriteResponse()
        if isinstance(result, Verdict):
            resp.batch.CopyFrom(result.to_pb())
        elif result:
            for i, v in result.items():
                resp.events[i].CopyFrom(v.to_pb())
        return resp

    def Health(self, request, context):
        reason = self.impl.health()
        return pb.HealthResponse(ready=reason is None, reason=reason or "")

    def Close(self, request, context):
        self.impl.close()
        return pb.CloseResponse()


def _server_credentials(client_cert_pem):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_agreement=True,
                                     key_cert_sign=True, content_commitment=False, data_encipherment=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    creds = grpc.ssl_server_credentials(
        [(key_pem, cert.public_bytes(serialization.Encoding.PEM))],
        root_certificates=client_cert_pem.encode(), require_client_auth=True)
    der = cert.public_bytes(serialization.Encoding.DER)
    return creds, base64.b64encode(der).decode().rstrip("=")


def serve(impl):
    """Serves impl until the agent stops the plugin. Never returns normally."""
    if os.environ.get(COOKIE_KEY) != COOKIE_VALUE:
        sys.stderr.write("This binary is a kubetrail output plugin: it is run by the agent "
                         "(an output of type: plugin), not by hand.\n")
        sys.exit(1)
    versions = os.environ.get("PLUGIN_PROTOCOL_VERSIONS", str(PROTOCOL_VERSION)).split(",")
    if str(PROTOCOL_VERSION) not in versions:
        sys.stderr.write("plugin speaks protocol %d, the agent offers %s\n" % (PROTOCOL_VERSION, versions))
        sys.exit(1)

    # The agent decides when the plugin stops (Close, then Shutdown; the
    # kernel kills the plugin if the agent dies): ignore the SIGTERM and
    # SIGINT sent to every process of a service or a terminal's group.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    stop = threading.Event()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                         options=[("grpc.max_receive_message_length", -1),
                                  ("grpc.max_send_message_length", -1)])
    pb_grpc.add_OutputServicer_to_server(_Servicer(impl), server)
    checker = health.HealthServicer()
    checker.set("plugin", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)

    def shutdown(request, context):
        stop.set()
        return b""

    def stdio(request, context):
        # go-plugin mirrors a Go plugin's stdout/stderr over this stream; a
        # Python plugin logs to stderr directly, so hold it open, empty.
        done = threading.Event()
        context.add_callback(done.set)
        done.wait()
        return iter(())

    identity = lambda b: b
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler("plugin.GRPCController", {
            "Shutdown": grpc.unary_unary_rpc_method_handler(shutdown, identity, identity)}),
        grpc.method_handlers_generic_handler("plugin.GRPCStdio", {
            "StreamStdio": grpc.unary_stream_rpc_method_handler(stdio, identity, identity)}),
    ))

    client_cert = os.environ.get("PLUGIN_CLIENT_CERT")
    cert_field = ""
    if client_cert:
        creds, cert_field = _server_credentials(client_cert)
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    line = "1|%d|tcp|127.0.0.1:%d|grpc" % (PROTOCOL_VERSION, port)
    if cert_field:
        line += "|" + cert_field
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    stop.wait()
    # Close was the last call: nothing left to finish but the stdio stream.
    server.stop(grace=0.2).wait()
    sys.stderr.flush()
    os._exit(0)  # don't wait for gRPC's worker threads to wind down
