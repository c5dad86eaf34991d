package config

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Config is a loaded, validated configuration file.
type Config struct {
	File       string               // path it was loaded from
	Agent      Agent                // the "agent" block
	Inputs     map[string]Component // by name
	Processors map[string]Component // by name
	Outputs    map[string]Output    // by name
	Pipelines  map[string]Pipeline  // by name
}

// Agent holds the agent-wide settings.
type Agent struct {
	// StateDir holds checkpoints and buffers. Default /var/lib/kubetrail.
	StateDir string `yaml:"state_dir"`
	// HTTPListen is where /metrics, /healthz and /readyz are served.
	// Default 127.0.0.1:9108; "" disables the server.
	HTTPListen string `yaml:"http_listen"`
	// ShutdownTimeout bounds the flush of in-flight batches on SIGTERM.
	// Default 30s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// Log configures the agent's own logs.
	Log Log `yaml:"log"`
	// DeadLetter is where events the agent gave up on are written.
	DeadLetter DeadLetterFile `yaml:"dead_letter"`
}

// Log configures the agent's own logs.
type Log struct {
	Level  LogLevel  `yaml:"level"`  // debug, info, warn, error; default info
	Format LogFormat `yaml:"format"` // text or json; default text
}

// DeadLetterFile is the NDJSON file of events the agent gave up on, rotated
// like lumberjack rotates.
type DeadLetterFile struct {
	// Path of the file. Default <state_dir>/dead-letter.ndjson.
	Path string `yaml:"path"`
	// MaxSize is the size at which the file is rotated. Default 100MiB.
	MaxSize Size `yaml:"max_size"`
	// MaxBackups is how many rotated files are kept. Default 10; 0 keeps all.
	MaxBackups int `yaml:"max_backups"`
	// Compress gzips rotated files. Default true.
	Compress bool `yaml:"compress"`
}

// DeadLetterFileName is the dead-letter file's name in the state directory
// when dead_letter.path is not set.
const DeadLetterFileName = "dead-letter.ndjson"

// DefaultAgent returns the agent settings used for keys absent from the file.
// DeadLetter.Path is left empty: the loader sets it from StateDir.
func DefaultAgent() Agent {
	return Agent{
		StateDir:        "/var/lib/kubetrail",
		HTTPListen:      "127.0.0.1:9108",
		ShutdownTimeout: Duration(30 * time.Second),
		Log:             Log{Level: LogInfo, Format: LogText},
		DeadLetter:      DeadLetterFile{MaxSize: 100 * MiB, MaxBackups: 10, Compress: true},
	}
}

// Validate implements the loader's validation hook.
func (a *Agent) Validate() error {
	var errs []error
	if a.StateDir == "" {
		errs = append(errs, Fieldf("state_dir", "must not be empty"))
	}
	if a.HTTPListen != "" {
		if _, _, err := net.SplitHostPort(a.HTTPListen); err != nil {
			errs = append(errs, Fieldf("http_listen", "%q is not host:port (e.g. 127.0.0.1:9108; \"\" disables the server)", a.HTTPListen))
		}
	}
	if a.ShutdownTimeout <= 0 {
		errs = append(errs, Fieldf("shutdown_timeout", "must be positive, got %s", a.ShutdownTimeout))
	}
	errs = append(errs, Nested("log", a.Log.Validate()), Nested("dead_letter", a.DeadLetter.Validate()))
	return errors.Join(errs...)
}

// Validate implements the loader's validation hook.
func (l *Log) Validate() error {
	var errs []error
	if err := OneOf(l.Level, logLevels...); err != nil {
		errs = append(errs, &FieldError{Field: "level", Err: err})
	}
	if err := OneOf(l.Format, logFormats...); err != nil {
		errs = append(errs, &FieldError{Field: "format", Err: err})
	}
	return errors.Join(errs...)
}

// Validate implements the loader's validation hook.
func (f *DeadLetterFile) Validate() error {
	var errs []error
	if f.MaxSize <= 0 {
		errs = append(errs, Fieldf("max_size", "must be positive, got %s", f.MaxSize))
	}
	if f.MaxBackups < 0 {
		errs = append(errs, Fieldf("max_backups", "must not be negative, got %d", f.MaxBackups))
	}
	return errors.Join(errs...)
}

// Component is one named input or processor: its type and the config its
// factory's NewConfig returned, decoded from the file and validated.
type Component struct {
	Type   string
	Config any // what NewConfig returned (a pointer), or nil if it returned nil
	Line   int // line of the component's name in the file
}

// Output is a named output: its component, plus how the pipeline feeds it.
type Output struct {
	Component
	Delivery Delivery
}

// Delivery is how the delivery loop feeds one output from its pipeline's
// buffer. Its keys are accepted by every output, next to the output's own.
type Delivery struct {
	Batch Batch `yaml:"batch"`
	Retry Retry `yaml:"retry"`
	// MaxInFlight is how many batches are sent concurrently; the cursor
	// still advances in order. Default 1.
	MaxInFlight int `yaml:"max_in_flight"`
}

// Batch bounds the batches sent to an output; a batch is sent when any
// bound is reached.
type Batch struct {
	MaxEvents int      `yaml:"max_events"` // default 500
	MaxBytes  Size     `yaml:"max_bytes"`  // default 1MiB; a larger single event goes alone
	MaxWait   Duration `yaml:"max_wait"`   // default 200ms
}

// Retry is a capped exponential backoff with jitter for retryable failures.
type Retry struct {
	InitialInterval Duration `yaml:"initial_interval"` // default 100ms
	MaxInterval     Duration `yaml:"max_interval"`     // default 30s
	Multiplier      float64  `yaml:"multiplier"`       // default 2
	Jitter          float64  `yaml:"jitter"`           // fraction, default 0.2 (±20%)
	// MaxElapsed gives up on a batch (dead-lettering it) after retrying it
	// this long. Default 0: retry forever. Never applies while the sink
	// refuses the agent (authentication, authorization): those events wait.
	MaxElapsed Duration `yaml:"max_elapsed"`
}

// deliveryKeys are the keys of Delivery; output types must not use them.
var deliveryKeys = []string{"batch", "retry", "max_in_flight"}

// DefaultDelivery returns the agent's delivery settings for absent keys:
// the one place that holds them. An output type may change them on its
// factory (outputs.Factory.Delivery), and pipeline.DeliveryFromConfig
// converts them for the delivery loop.
func DefaultDelivery() Delivery {
	return Delivery{
		Batch: Batch{MaxEvents: 500, MaxBytes: 1 * MiB, MaxWait: Duration(200 * time.Millisecond)},
		Retry: Retry{
			InitialInterval: Duration(100 * time.Millisecond),
			MaxInterval:     Duration(30 * time.Second),
			Multiplier:      2,
			Jitter:          0.2,
		},
		MaxInFlight: 1,
	}
}

// Validate implements the loader's validation hook.
func (d *Delivery) Validate() error {
	var errs []error
	if d.MaxInFlight < 1 {
		errs = append(errs, Fieldf("max_in_flight", "must be at least 1, got %d", d.MaxInFlight))
	}
	errs = append(errs, Nested("batch", d.Batch.Validate()), Nested("retry", d.Retry.Validate()))
	return errors.Join(errs...)
}

// Validate implements the loader's validation hook.
func (b *Batch) Validate() error {
	var errs []error
	if b.MaxEvents < 1 {
		errs = append(errs, Fieldf("max_events", "must be at least 1, got %d", b.MaxEvents))
	}
	if b.MaxBytes < 1 {
		errs = append(errs, Fieldf("max_bytes", "must be positive, got %s", b.MaxBytes))
	}
	if b.MaxWait < 0 {
		errs = append(errs, Fieldf("max_wait", "must not be negative, got %s", b.MaxWait))
	}
	return errors.Join(errs...)
}

// Validate implements the loader's validation hook.
func (r *Retry) Validate() error {
	var errs []error
	if r.InitialInterval <= 0 {
		errs = append(errs, Fieldf("initial_interval", "must be positive, got %s", r.InitialInterval))
	}
	if r.MaxInterval < r.InitialInterval {
		errs = append(errs, Fieldf("max_interval", "must be at least initial_interval (%s), got %s", r.InitialInterval, r.MaxInterval))
	}
	if r.Multiplier < 1 {
		errs = append(errs, Fieldf("multiplier", "must be at least 1, got %g", r.Multiplier))
	}
	if !(r.Jitter >= 0 && r.Jitter <= 1) {
		errs = append(errs, Fieldf("jitter", "must be between 0 and 1, got %g", r.Jitter))
	}
	if r.MaxElapsed < 0 {
		errs = append(errs, Fieldf("max_elapsed", "must not be negative (0 retries forever), got %s", r.MaxElapsed))
	}
	return errors.Join(errs...)
}

// Pipeline wires inputs, through processors in order, into one disk buffer
// read by its outputs, each through its own cursor.
type Pipeline struct {
	Inputs     []string `yaml:"inputs"`     // at least one
	Processors []string `yaml:"processors"` // applied in this order
	Outputs    []string `yaml:"outputs"`    // at least one; an output belongs to one pipeline
	Buffer     Buffer   `yaml:"buffer"`
	Line       int      `yaml:"-"` // line of the pipeline's name in the file
}

// Buffer is a pipeline's disk buffer (a write-ahead log in segments).
type Buffer struct {
	MaxBytes      Size      `yaml:"max_bytes"`      // cap on the buffer's disk use; default 1GiB
	SegmentBytes  Size      `yaml:"segment_bytes"`  // segment file size; default 64MiB
	Fsync         FsyncMode `yaml:"fsync"`          // always, interval or never; default interval
	FsyncInterval Duration  `yaml:"fsync_interval"` // for fsync: interval; default 200ms
	WhenFull      WhenFull  `yaml:"when_full"`      // block or drop_oldest; default block
}

// DefaultPipeline returns a pipeline with the default buffer.
func DefaultPipeline() Pipeline {
	return Pipeline{Buffer: DefaultBuffer()}
}

// DefaultBuffer returns the buffer settings used for absent keys.
func DefaultBuffer() Buffer {
	return Buffer{
		MaxBytes:      1 * GiB,
		SegmentBytes:  64 * MiB,
		Fsync:         FsyncInterval,
		FsyncInterval: Duration(200 * time.Millisecond),
		WhenFull:      WhenFullBlock,
	}
}

// Validate implements the loader's validation hook. It checks the pipeline
// on its own; the loader checks that the names it lists are defined.
func (p *Pipeline) Validate() error {
	var errs []error
	if len(p.Inputs) == 0 {
		errs = append(errs, Fieldf("inputs", "at least one input is required"))
	}
	if len(p.Outputs) == 0 {
		errs = append(errs, Fieldf("outputs", "at least one output is required"))
	}
	for _, l := range []struct {
		key   string
		names []string
	}{{"inputs", p.Inputs}, {"processors", p.Processors}, {"outputs", p.Outputs}} {
		seen := make(map[string]int)
		for i, name := range l.names {
			if first, dup := seen[name]; dup {
				errs = append(errs, Fieldf(fmt.Sprintf("%s[%d]", l.key, i), "%q is listed twice (first at %s[%d])", name, l.key, first))
				continue
			}
			seen[name] = i
		}
	}
	errs = append(errs, Nested("buffer", p.Buffer.Validate()))
	return errors.Join(errs...)
}

// Validate implements the loader's validation hook.
func (b *Buffer) Validate() error {
	var errs []error
	// The buffer's own limits (pipeline/buffer); it lowers segment_bytes to
	// a quarter of max_bytes by itself.
	if b.MaxBytes < 256*KiB {
		errs = append(errs, Fieldf("max_bytes", "%s is below the minimum of 256KiB", b.MaxBytes))
	}
	if b.SegmentBytes < 64*KiB {
		errs = append(errs, Fieldf("segment_bytes", "%s is below the minimum of 64KiB", b.SegmentBytes))
	} else if b.MaxBytes > 0 && b.SegmentBytes > b.MaxBytes {
		errs = append(errs, Fieldf("segment_bytes", "%s is larger than max_bytes (%s)", b.SegmentBytes, b.MaxBytes))
	}
	if err := OneOf(b.Fsync, fsyncModes...); err != nil {
		errs = append(errs, &FieldError{Field: "fsync", Err: err})
	}
	if b.Fsync == FsyncInterval && b.FsyncInterval <= 0 {
		errs = append(errs, Fieldf("fsync_interval", "must be positive with fsync: interval, got %s", b.FsyncInterval))
	}
	if err := OneOf(b.WhenFull, whenFulls...); err != nil {
		errs = append(errs, &FieldError{Field: "when_full", Err: err})
	}
	return errors.Join(errs...)
}
