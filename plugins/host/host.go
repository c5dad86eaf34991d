// Package host runs third-party output plugins: it registers the output type
// "plugin", which starts the configured executable through hashicorp/go-plugin
// (versioned handshake, automatic mTLS, optional SHA-256 check), forwards its
// log lines into the agent's log, and restarts it with backoff when it
// crashes, exits or hangs. The delivery loop treats a plugin like any other
// output; a dead plugin is a retryable failure, so its in-flight batches are
// sent again to the next process and nothing leaves the buffer unacknowledged.
package host

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/plugins/internal/wire"
	pb "github.com/kubetrail/kubetrail/plugins/proto"
)

//go:embed sample.yaml
var sample string

// Sample is a commented example configuration of this output.
func Sample() string { return sample }

func init() {
	outputs.Register("plugin", outputs.Factory{
		NewConfig: func() any { return defaultConfig() },
		New: func(cfg any, set pipeline.Settings) (event.Output, error) {
			return New(cfg.(*Config), set)
		},
	})
}

// Output is an output served by a plugin process.
type Output struct {
	name     string
	cfg      Config
	cfgJSON  []byte
	log      *slog.Logger
	restarts prometheus.Counter
	up       prometheus.Gauge

	mu        sync.Mutex
	cur       *process
	starts    int           // processes started, successfully or not
	backoff   time.Duration // wait before the next restart
	notBefore time.Time     // no restart before this
	lastErr   error         // why the last process died or failed to start
	startFail bool          // lastErr is a failed start: the output is unready
	closed    bool
}

var _ event.Output = (*Output)(nil)

// New builds a plugin output; the process starts in Start. With sha256 set,
// a binary present but different is refused here, so the agent does not
// start; a binary missing now is only an unready output.
func New(cfg *Config, set pipeline.Settings) (*Output, error) {
	if cfg.SHA256 != "" {
		var ce *ChecksumError
		if err := checkSum(cfg.Path, cfg.SHA256); errors.As(err, &ce) {
			return nil, err
		}
	}
	conf := cfg.Config
	if conf == nil {
		conf = map[string]any{}
	}
	js, err := json.Marshal(conf)
	if err != nil {
		// Never include the value: it may hold secrets.
		return nil, fmt.Errorf("plugin output %s: config cannot be sent as JSON: %T values are not supported", set.Name, err)
	}
	log := set.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Output{name: set.Name, cfg: *cfg, cfgJSON: js, log: log, backoff: cfg.RestartInitialInterval.Std()}
	if err := o.registerMetrics(set.Metrics); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *Output) registerMetrics(reg prometheus.Registerer) error {
	// set.Metrics is labelled with the pipeline and the output's name.
	o.restarts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kubetrail_plugin_restarts_total",
		Help: "Plugin processes started to replace one that crashed, exited, hung or failed to start.",
	})
	o.up = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "kubetrail_plugin_up",
		Help: "1 while the output's plugin process is running and configured.",
	})
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{o.restarts, o.up} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return fmt.Errorf("plugin output %s: metrics: %w", o.name, err)
			}
			// By identity, not by type: a Gauge is a Counter too.
			if c == prometheus.Collector(o.restarts) {
				o.restarts = are.ExistingCollector.(prometheus.Counter)
			} else {
				o.up = are.ExistingCollector.(prometheus.Gauge)
			}
		}
	}
	return nil
}

// Start starts the plugin process and configures it. A plugin that cannot
// start (missing binary, rejected config, failed health check) is an
// Unready error: the agent keeps running and retries.
func (o *Output) Start(ctx context.Context) error {
	_, err := o.get(ctx)
	return err
}

// get returns the running process, starting one when there is none and the
// restart backoff allows it.
func (o *Output) get(ctx context.Context) (*process, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, errors.New("plugin output closed")
	}
	if p := o.cur; p != nil {
		if !p.exited() {
			return p, nil
		}
		o.dropLocked(p, errors.New("the plugin process exited"))
	}
	if wait := time.Until(o.notBefore); wait > 0 {
		err := event.Throttled(fmt.Errorf("plugin %s is down, restarting in %s: %w", o.name, wait.Round(time.Millisecond), o.lastErr), wait)
		if o.startFail {
			err = event.Unready(err)
		}
		return nil, err
	}
	if o.starts > 0 {
		o.restarts.Inc()
	}
	o.starts++
	p, err := o.start(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		o.lastErr, o.startFail = err, true
		o.notBefore = time.Now().Add(o.backoff)
		o.log.Error("plugin failed to start; output unready", "path", o.cfg.Path, "retry_in", o.backoff, "error", err)
		o.backoff = min(2*o.backoff, o.cfg.RestartMaxInterval.Std())
		return nil, event.Unready(err)
	}
	o.cur, o.startFail = p, false
	o.up.Set(1)
	o.log.Info("plugin started", "path", o.cfg.Path, "pid", p.pid, "protocol", p.version)
	return p, nil
}

// fail retires p after a crash or hang: it is killed (if still running) and
// the next Write starts another process after the backoff.
func (o *Output) fail(p *process, reason error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dropLocked(p, reason)
}

func (o *Output) dropLocked(p *process, reason error) {
	if o.cur != p {
		return // another Write already retired it
	}
	o.cur = nil
	o.up.Set(0)
	o.lastErr, o.startFail = reason, false
	o.notBefore = time.Now().Add(o.backoff)
	o.log.Warn("plugin process failed; restarting it", "path", o.cfg.Path, "pid", p.pid, "restart_in", o.backoff, "reason", reason)
	o.backoff = min(2*o.backoff, o.cfg.RestartMaxInterval.Std())
	go p.kill() // may wait for pipes to drain: never under o.mu
}

// healthy resets the restart backoff after a Write p answered.
func (o *Output) healthy(p *process) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur == p {
		o.backoff = o.cfg.RestartInitialInterval.Std()
	}
}

// Write sends the batch to the plugin and maps its verdicts. A plugin that
// died, or did not answer within write_timeout, is killed and restarted;
// the batch fails as retryable and comes again.
func (o *Output) Write(ctx context.Context, b *event.Batch) error {
	p, err := o.get(ctx)
	if err != nil {
		return err
	}
	req := &pb.WriteRequest{Events: make([]*pb.Event, len(b.Events))}
	wires := make([]pb.Event, len(b.Events))
	var ids []byte
	for i := range b.Events {
		ev := &b.Events[i]
		start := len(ids)
		ids = ev.ID(ids)
		wires[i].Raw = ev.Raw
		wires[i].Id = string(ids[start:])
		req.Events[i] = &wires[i]
	}
	timeout := o.cfg.WriteTimeout.Std()
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := p.rpc.Write(wctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // shutting down: not the plugin's fault
		}
		switch code := status.Code(err); {
		case errors.Is(wctx.Err(), context.DeadlineExceeded) || code == codes.DeadlineExceeded:
			err = fmt.Errorf("plugin %s did not answer Write within write_timeout %s (hung): killed it", o.name, timeout)
			o.fail(p, err)
		case p.exited() || code == codes.Unavailable || code == codes.Canceled:
			err = fmt.Errorf("plugin %s died during Write: %w", o.name, err)
			o.fail(p, err)
		default:
			err = fmt.Errorf("plugin %s: Write failed: %w", o.name, err)
		}
		return err
	}
	o.healthy(p)
	return wire.Error(resp, len(b.Events), o.name)
}

// Close asks the plugin to flush and close, then stops its process; what
// ctx leaves no time for is killed. A ctx already ended (an abrupt stop)
// kills the process without asking: nothing unacknowledged is lost, the
// events are still buffered.
func (o *Output) Close(ctx context.Context) error {
	o.mu.Lock()
	o.closed = true
	p := o.cur
	o.cur = nil
	o.mu.Unlock()
	if p == nil {
		return nil
	}
	o.up.Set(0)
	var err error
	if ctx.Err() == nil && !p.exited() {
		_, cerr := p.rpc.Close(ctx, &pb.CloseRequest{})
		switch {
		case cerr == nil, ctx.Err() != nil:
		case p.exited() || status.Code(cerr) == codes.Unavailable:
			// Gone already (a signal to every process of the agent's
			// cgroup, as systemd stops a service): it acknowledged
			// nothing it did not store, so nothing is lost.
			o.log.Warn("plugin was gone before Close", "path", o.cfg.Path, "pid", p.pid, "error", cerr)
		default:
			err = fmt.Errorf("plugin %s: Close: %w", o.name, cerr)
		}
	}
	if ctx.Err() != nil {
		p.kill()
		return err
	}
	done := make(chan struct{})
	go func() { p.client.Kill(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		p.sigkill()
		<-done
	}
	return err
}

func agentVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return "unknown"
}

// PID is the running plugin process's id, 0 when none runs; for
// diagnostics and tests.
func (o *Output) PID() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur == nil {
		return 0
	}
	return o.cur.pid
}
