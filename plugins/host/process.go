package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/status"

	pb "github.com/kubetrail/kubetrail/plugins/proto"
	"github.com/kubetrail/kubetrail/plugins/sdk"
)

// process is one running plugin process.
type process struct {
	client  *plugin.Client
	rpc     pb.OutputClient
	pid     int
	version int
}

// start launches the plugin, negotiates the protocol, configures it and
// checks its health, all within start_timeout.
func (o *Output) start(ctx context.Context) (*process, error) {
	path := o.cfg.Path
	var secure *plugin.SecureConfig
	if o.cfg.SHA256 != "" {
		// Our own check first, for a message naming both sums; go-plugin
		// checks again right before exec.
		if err := checkSum(path, o.cfg.SHA256); err != nil {
			return nil, err
		}
		sum, _ := hex.DecodeString(o.cfg.SHA256)
		secure = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	tlsConfig, certPEM, err := clientTLS()
	if err != nil {
		return nil, fmt.Errorf("plugin %s: make a TLS certificate: %w", path, err)
	}
	cmd := exec.Command(path)
	cmd.Env = append(os.Environ(), "PLUGIN_CLIENT_CERT="+string(certPEM))
	setProcAttr(cmd)
	logs := newLogWriter(o.log, path)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: sdk.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{
			sdk.ProtocolVersion: {sdk.PluginName: &sdk.GRPCPlugin{}},
		},
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		// Mutual TLS as go-plugin's AutoMTLS does it, see clientTLS.
		TLSConfig:    tlsConfig,
		SkipHostEnv:  true, // cmd.Env has it already
		StartTimeout: o.cfg.StartTimeout.Std(),
		// go-plugin's own logger is off: it would parse the plugin's
		// stderr itself (and panic on a malformed line). Stderr gets every
		// raw line instead, and logWriter parses them defensively.
		Logger:     hclog.NewNullLogger(),
		Stderr:     logs,
		SyncStdout: logs.stream("stdout"),
		SyncStderr: logs.stream("stderr"),
	})
	p := &process{client: client}
	ok := false
	defer func() {
		if !ok {
			p.kill()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, o.cfg.StartTimeout.Std())
	defer cancel()
	proto, err := client.Client()
	if err != nil {
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			// Replaced between our check and exec.
			if cerr := checkSum(path, o.cfg.SHA256); cerr != nil {
				return nil, cerr
			}
		}
		return nil, fmt.Errorf("start plugin %s: %w", path, err)
	}
	if rc := client.ReattachConfig(); rc != nil {
		p.pid = rc.Pid
	}
	p.version = client.NegotiatedVersion()
	raw, err := proto.Dispense(sdk.PluginName)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	p.rpc = raw.(pb.OutputClient)
	_, err = p.rpc.Configure(ctx, &pb.ConfigureRequest{Name: o.name, ConfigJson: o.cfgJSON, AgentVersion: agentVersion()})
	if err != nil {
		return nil, fmt.Errorf("plugin %s rejected its configuration: %s", path, statusMessage(err))
	}
	h, err := p.rpc.Health(ctx, &pb.HealthRequest{})
	if err != nil {
		return nil, fmt.Errorf("plugin %s: health check: %s", path, statusMessage(err))
	}
	if !h.GetReady() {
		return nil, fmt.Errorf("plugin %s is not ready: %s", path, h.GetReason())
	}
	ok = true
	return p, nil
}

func statusMessage(err error) string {
	if s, ok := status.FromError(err); ok {
		return fmt.Sprintf("%s (%s)", s.Message(), s.Code())
	}
	return err.Error()
}

func (p *process) exited() bool { return p.client.Exited() }

// kill stops the process at once (a hung plugin would not answer a
// graceful shutdown) and waits until go-plugin has cleaned up after it.
func (p *process) kill() {
	p.sigkill()
	p.client.Kill()
}

func (p *process) sigkill() {
	if p.pid > 0 && !p.client.Exited() {
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
}
