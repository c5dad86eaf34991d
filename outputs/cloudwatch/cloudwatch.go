package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/internal/nametemplate"
)

// api is the part of the CloudWatch Logs client the output uses.
type api interface {
	CreateLogGroup(ctx context.Context, in *cloudwatchlogs.CreateLogGroupInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogGroupOutput, error)
	PutRetentionPolicy(ctx context.Context, in *cloudwatchlogs.PutRetentionPolicyInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutRetentionPolicyOutput, error)
	CreateLogStream(ctx context.Context, in *cloudwatchlogs.CreateLogStreamInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error)
	PutLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error)
}

// Output is the cloudwatch output. Its methods are safe for concurrent use.
type Output struct {
	cfg      Config
	client   api
	log      *slog.Logger
	stream   string                 // the stream of every event when tmpl is nil
	tmpl     *nametemplate.Template // nil when the stream name is static
	maxEvent int
	limits   limits
	now      func() time.Time

	// streams holds the names of the streams created (or found to exist)
	// since the start, so each is created once and never looked up on the
	// hot path (DescribeLogStreams is limited to a few calls per second).
	streams sync.Map // string -> struct{}
	// setup serializes group and stream creation.
	setup            sync.Mutex
	groupReady       bool // the log group exists, as far as we know
	retentionPending bool // we created the group; its retention is not set yet
}

var _ event.Output = (*Output)(nil)

// New builds the output. It loads the SDK's configuration (environment,
// shared files) but does not call AWS.
func New(ctx context.Context, cfg *Config, log *slog.Logger) (*Output, error) {
	opts := []func(*awsconfig.LoadOptions) error{
		// The delivery loop retries, with backoff, and knows which
		// events are done; the SDK must not retry behind its back.
		awsconfig.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, errors.New("region: no region set (set region, or AWS_REGION in the environment)")
	}
	node := nodeName()
	if cfg.RoleARN != "" {
		provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(awsCfg), cfg.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = sanitizeSession("kubetrail-" + node)
		})
		awsCfg.Credentials = aws.NewCredentialsCache(provider)
	}
	if awsCfg.Credentials != nil {
		awsCfg.Credentials = credentialsMarker{awsCfg.Credentials}
	}
	client := cloudwatchlogs.NewFromConfig(awsCfg, func(o *cloudwatchlogs.Options) {
		if o.Protocol != nil {
			o.Protocol = putProtocol{o.Protocol}
		}
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return newOutput(cfg, client, node, log)
}

func newOutput(cfg *Config, client api, node string, log *slog.Logger) (*Output, error) {
	tmpl, err := parseStream(cfg.LogStream)
	if err != nil {
		return nil, fmt.Errorf("log_stream: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Output{
		cfg: *cfg, client: client, log: log, maxEvent: int(cfg.MaxEventBytes),
		limits: apiLimits, now: time.Now,
	}
	switch {
	case tmpl == nil:
		o.stream = string(streamName(replaceInvalid([]byte(node))))
	case tmpl.Static():
		o.stream = string(streamName(tmpl.Append(nil, nil)))
	default:
		o.tmpl = tmpl
	}
	return o, nil
}

// nodeName is the default log stream: the NODE_NAME variable (set from
// spec.nodeName in the DaemonSet), else the host name.
func nodeName() string {
	if n := os.Getenv("NODE_NAME"); n != "" {
		return n
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "kubetrail"
}

// replaceInvalid replaces what stream names cannot hold (':' and '*') by '_'.
func replaceInvalid(b []byte) []byte {
	for i, c := range b {
		if c == ':' || c == '*' {
			b[i] = '_'
		}
	}
	return b
}

// sanitizeSession keeps what an STS role session name allows
// ([\w+=,.@-], 2-64 characters).
func sanitizeSession(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '+' || c == '=' || c == ',' || c == '.' || c == '@' || c == '-'
		if !ok {
			b[i] = '-'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// Start implements event.Output: it creates the log group (and the stream,
// when its name does not depend on the event) when the configuration asks
// for it, so that a missing permission or an unreachable endpoint shows in
// /readyz before the first event. Its errors are classified like Write's;
// the delivery loop retries Start with backoff.
func (o *Output) Start(ctx context.Context) error {
	switch {
	case o.tmpl == nil && o.cfg.CreateLogStream:
		return o.ensureStream(ctx, o.stream)
	case o.cfg.CreateLogGroup:
		o.setup.Lock()
		defer o.setup.Unlock()
		return o.ensureGroupLocked(ctx)
	}
	return nil
}

// Close implements event.Output; there is nothing to flush.
func (o *Output) Close(context.Context) error { return nil }

// Write sends the batch as one PutLogEvents request per stream, or more when
// the batch does not fit in one request's limits. It returns nil when every
// event was accepted; a PartialError naming the events that were not (the
// ones CloudWatch rejected, permanently, and those of requests that failed);
// or, when no event got through, the first failure as it is, so that its
// kind (Unready, Throttled, Permanent) reaches the delivery loop.
func (o *Output) Write(ctx context.Context, b *event.Batch) error {
	failed := map[int]error{}
	reqs := o.plan(b, failed)
	sent := 0
	var firstErr error
	for i, r := range reqs {
		if firstErr != nil && !event.IsPermanent(firstErr) {
			// The endpoint is down, throttling or refusing us: do not
			// try the remaining requests; the loop retries them.
			for _, rest := range reqs[i:] {
				for _, it := range rest.items {
					failed[it.idx] = firstErr
				}
			}
			break
		}
		rejected, err := o.put(ctx, r)
		if err != nil {
			for _, it := range r.items {
				failed[it.idx] = err
			}
			if firstErr == nil || event.IsPermanent(firstErr) {
				firstErr = err
			}
			continue
		}
		sent += len(r.items) - len(rejected)
		for idx, reason := range rejected {
			failed[idx] = reason
		}
	}
	switch {
	case len(failed) == 0:
		return nil
	case sent == 0 && firstErr != nil && len(failed) == len(b.Events) && allFailedWith(failed, firstErr):
		return firstErr
	default:
		return &event.PartialError{Failed: failed}
	}
}

func allFailedWith(failed map[int]error, err error) bool {
	for _, e := range failed {
		if e != err {
			return false
		}
	}
	return true
}

// put sends one request, creating the group and stream first when needed
// and again when they were deleted under us. It returns the permanent
// verdicts of the events CloudWatch rejected, by batch index.
func (o *Output) put(ctx context.Context, r request) (map[int]error, error) {
	if o.cfg.CreateLogStream {
		if err := o.ensureStream(ctx, r.stream); err != nil {
			return nil, err
		}
	}
	in := &cloudwatchlogs.PutLogEventsInput{
		LogGroupName:  aws.String(o.cfg.LogGroup),
		LogStreamName: aws.String(r.stream),
		LogEvents:     make([]types.InputLogEvent, len(r.items)),
	}
	for j := range r.items {
		in.LogEvents[j] = types.InputLogEvent{Message: &r.items[j].msg, Timestamp: &r.items[j].ts}
	}
	out, err := o.call(ctx, func(ctx context.Context) (*cloudwatchlogs.PutLogEventsOutput, error) {
		return o.client.PutLogEvents(ctx, in)
	})
	if err != nil && isCode(err, codeNotFound) && (o.cfg.CreateLogGroup || o.cfg.CreateLogStream) {
		o.log.Warn("log group or stream not found; creating it", "log_group", o.cfg.LogGroup, "log_stream", r.stream, "error", err)
		o.forget(r.stream)
		if err := o.ensureStream(ctx, r.stream); err != nil {
			return nil, err
		}
		out, err = o.call(ctx, func(ctx context.Context) (*cloudwatchlogs.PutLogEventsOutput, error) {
			return o.client.PutLogEvents(ctx, in)
		})
	}
	if err != nil {
		return nil, classify(fmt.Sprintf("put %d events to %s/%s", len(r.items), o.cfg.LogGroup, r.stream), err, true)
	}
	return o.rejected(out.RejectedLogEventsInfo, r), nil
}

// call runs one API call bounded by the timeout.
func (o *Output) call(ctx context.Context, f func(context.Context) (*cloudwatchlogs.PutLogEventsOutput, error)) (*cloudwatchlogs.PutLogEventsOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout.Std())
	defer cancel()
	return f(ctx)
}

// rejected maps rejectedLogEventsInfo (indexes into the request) to
// permanent verdicts by batch index.
func (o *Output) rejected(info *types.RejectedLogEventsInfo, r request) map[int]error {
	if info == nil {
		return nil
	}
	out := map[int]error{}
	for j, it := range r.items {
		var why string
		switch {
		case info.ExpiredLogEventEndIndex != nil && j <= int(*info.ExpiredLogEventEndIndex):
			why = "expired (older than the log group's retention)"
		case info.TooOldLogEventEndIndex != nil && j <= int(*info.TooOldLogEventEndIndex):
			why = "too old (older than 14 days or than the log group's retention)"
		case info.TooNewLogEventStartIndex != nil && j >= int(*info.TooNewLogEventStartIndex):
			why = "too new (more than 2 hours in the future)"
		default:
			continue
		}
		ts := time.UnixMilli(it.ts).UTC().Format(time.RFC3339Nano)
		out[it.idx] = event.Permanent(fmt.Errorf("rejected by CloudWatch Logs: timestamp %s is %s", ts, why))
	}
	return out
}

// ensureStream makes sure the log group (when create_log_group) and the
// stream exist, once per stream until forget.
func (o *Output) ensureStream(ctx context.Context, stream string) error {
	if _, ok := o.streams.Load(stream); ok {
		return nil
	}
	o.setup.Lock()
	defer o.setup.Unlock()
	if _, ok := o.streams.Load(stream); ok {
		return nil
	}
	if err := o.ensureGroupLocked(ctx); err != nil {
		return err
	}
	if !o.cfg.CreateLogStream {
		return nil
	}
	create := func() error {
		ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout.Std())
		defer cancel()
		_, err := o.client.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{
			LogGroupName: aws.String(o.cfg.LogGroup), LogStreamName: aws.String(stream),
		})
		return err
	}
	err := create()
	if isCode(err, codeNotFound) && o.cfg.CreateLogGroup {
		// The group went away since we last saw it.
		o.groupReady = false
		if err := o.ensureGroupLocked(ctx); err != nil {
			return err
		}
		err = create()
	}
	switch {
	case err == nil:
		o.log.Info("created log stream", "log_group", o.cfg.LogGroup, "log_stream", stream)
	case isCode(err, codeAlreadyExists):
	default:
		return classify(fmt.Sprintf("create log stream %s/%s", o.cfg.LogGroup, stream), err, false)
	}
	o.streams.Store(stream, struct{}{})
	return nil
}

// ensureGroupLocked creates the log group when create_log_group is set and
// it was not seen yet, and sets its retention when it created it.
func (o *Output) ensureGroupLocked(ctx context.Context) error {
	if !o.cfg.CreateLogGroup || o.groupReady {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout.Std())
	_, err := o.client.CreateLogGroup(cctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(o.cfg.LogGroup)})
	cancel()
	switch {
	case err == nil:
		o.log.Info("created log group", "log_group", o.cfg.LogGroup)
		o.retentionPending = o.cfg.RetentionDays > 0
	case isCode(err, codeAlreadyExists):
	default:
		return classify("create log group "+o.cfg.LogGroup, err, false)
	}
	if o.retentionPending {
		cctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout.Std())
		_, err := o.client.PutRetentionPolicy(cctx, &cloudwatchlogs.PutRetentionPolicyInput{
			LogGroupName: aws.String(o.cfg.LogGroup), RetentionInDays: aws.Int32(int32(o.cfg.RetentionDays)),
		})
		cancel()
		if err != nil {
			return classify("set retention of log group "+o.cfg.LogGroup, err, false)
		}
		o.retentionPending = false
	}
	o.groupReady = true
	return nil
}

// forget drops what we believed about the group and stream after CloudWatch
// said one of them does not exist.
func (o *Output) forget(stream string) {
	o.setup.Lock()
	defer o.setup.Unlock()
	o.streams.Delete(stream)
	o.groupReady = false
}
