package sdk

import (
	"context"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/kubetrail/kubetrail/plugins/proto"
)

// ProtocolVersion is the version of the plugin protocol this SDK speaks
// (the go-plugin handshake's app protocol version).
const ProtocolVersion = 1

// PluginName is the name the output service is dispensed under.
const PluginName = "output"

// Handshake is the handshake between the agent and a plugin. The cookie is
// not a secret: it only stops a user from running the plugin binary by hand
// and wondering why it prints a handshake line.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "KUBETRAIL_PLUGIN",
	MagicCookieValue: "output-9f3c2a7e",
}

// GRPCPlugin is the go-plugin glue of the output service: the server side
// serves Impl, the client side (used by the agent) returns a
// pb.OutputClient.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the plugin's output; nil on the agent's side.
	Impl Output
	// Logger is handed to Impl in Config.
	Logger *slog.Logger
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer implements plugin.GRPCPlugin.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterOutputServer(s, &server{impl: p.Impl, log: p.Logger})
	return nil
}

// GRPCClient implements plugin.GRPCPlugin.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pb.NewOutputClient(c), nil
}

// Serve runs impl as a kubetrail output plugin until the agent stops it. It
// is a plugin's whole main; run by hand, the binary explains that it is a
// plugin and exits 1.
func Serve(impl Output) {
	// go-plugin redirects os.Stderr into its stdio stream once serving:
	// keep the real one, where the agent reads log lines.
	stderr := os.Stderr
	// The agent decides when the plugin stops (Close, then go-plugin's
	// Shutdown; the kernel kills the plugin if the agent dies). A SIGTERM
	// sent to every process of the service, as systemd does, must not cut
	// the plugin off before the agent has closed it.
	signal.Ignore(syscall.SIGTERM)
	logger := slog.New(NewLogHandler(stderr, slog.LevelDebug))
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{
			ProtocolVersion: {PluginName: &GRPCPlugin{Impl: impl, Logger: logger}},
		},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			// A batch holds up to batch.max_bytes, and a single event up
			// to the input's max_line_bytes: lift gRPC's 4MiB default.
			return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(math.MaxInt32))...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{Output: stderr, JSONFormat: true, Level: hclog.Info}),
	})
}
