package sdk_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/plugins/internal/wire"
	pb "github.com/kubetrail/kubetrail/plugins/proto"
	"github.com/kubetrail/kubetrail/plugins/sdk"
)

// fake is a plugin whose Write returns what the test says.
type fake struct {
	cfg     sdk.Config
	verdict func(b *event.Batch) error
	closed  bool
}

func (f *fake) Configure(_ context.Context, c sdk.Config) error {
	var v struct {
		Dir string `json:"dir"`
	}
	if err := c.Decode(&v); err != nil {
		return err
	}
	f.cfg = c
	return nil
}
func (f *fake) Write(_ context.Context, b *event.Batch) error { return f.verdict(b) }
func (f *fake) Close(context.Context) error                   { f.closed = true; return nil }
func (f *fake) Health(context.Context) error {
	if f.cfg.Name == "sick" {
		return errors.New("sink unreachable")
	}
	return nil
}

// client serves impl over an in-process gRPC connection, registered as
// go-plugin registers it across processes.
func client(t *testing.T, impl sdk.Output) pb.OutputClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	p := &sdk.GRPCPlugin{Impl: impl}
	require.NoError(t, p.GRPCServer(nil, srv))
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(); srv.Stop() })
	raw, err := p.GRPCClient(context.Background(), nil, conn)
	require.NoError(t, err)
	return raw.(pb.OutputClient)
}

func batch(n int) *pb.WriteRequest {
	req := &pb.WriteRequest{}
	for i := range n {
		req.Events = append(req.Events, &pb.Event{Raw: []byte(`{"auditID":"a` + string(rune('0'+i)) + `","stage":"ResponseComplete"}`)})
	}
	return req
}

func TestVerdictsRoundTrip(t *testing.T) {
	ctx := context.Background()
	f := &fake{}
	c := client(t, f)
	_, err := c.Configure(ctx, &pb.ConfigureRequest{Name: "x", ConfigJson: []byte(`{"dir":"/tmp"}`)})
	require.NoError(t, err)
	assert.Equal(t, "x", f.cfg.Name)
	assert.NotNil(t, f.cfg.Logger)

	for _, tc := range []struct {
		name  string
		err   error
		check func(t *testing.T, got error)
	}{
		{"ok", nil, func(t *testing.T, got error) { assert.NoError(t, got) }},
		{"retryable", errors.New("sink down"), func(t *testing.T, got error) {
			assert.EqualError(t, got, "plugin out: sink down")
			assert.False(t, event.IsPermanent(got))
			assert.False(t, event.IsUnready(got))
		}},
		{"permanent", event.Permanent(errors.New("bad batch")), func(t *testing.T, got error) {
			assert.True(t, event.IsPermanent(got))
			assert.EqualError(t, got, "permanent: plugin out: bad batch", "the marker is not doubled")
		}},
		{"throttled", event.Throttled(errors.New("slow down"), 1500*time.Millisecond), func(t *testing.T, got error) {
			d, ok := event.RetryAfter(got)
			assert.True(t, ok)
			assert.Equal(t, 1500*time.Millisecond, d)
		}},
		{"unready", event.Unready(errors.New("token rejected")), func(t *testing.T, got error) {
			assert.True(t, event.IsUnready(got))
			assert.EqualError(t, got, "unready: plugin out: token rejected")
		}},
		{"partial", event.Throttled(&event.PartialError{Failed: map[int]error{
			0: event.Permanent(errors.New("malformed")),
			2: errors.New("later"),
			7: errors.New("out of range: ignored"),
		}}, time.Second), func(t *testing.T, got error) {
			var pe *event.PartialError
			require.ErrorAs(t, got, &pe)
			require.Len(t, pe.Failed, 2)
			assert.True(t, event.IsPermanent(pe.Failed[0]))
			assert.False(t, event.IsPermanent(pe.Failed[2]))
			d, _ := event.RetryAfter(got)
			assert.Equal(t, time.Second, d)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.verdict = func(b *event.Batch) error {
				assert.Len(t, b.Events, 3)
				assert.Equal(t, "a1", string(b.Events[1].AuditID), "Meta is extracted for the plugin")
				return tc.err
			}
			resp, err := c.Write(ctx, batch(3))
			require.NoError(t, err)
			tc.check(t, wire.Error(resp, 3, "out"))
		})
	}

	_, err = c.Close(ctx, &pb.CloseRequest{})
	require.NoError(t, err)
	assert.True(t, f.closed)
}

func TestConfigureAndHealth(t *testing.T) {
	ctx := context.Background()
	c := client(t, &fake{verdict: func(*event.Batch) error { return nil }})
	_, err := c.Write(ctx, batch(1))
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "Write before Configure")

	_, err = c.Configure(ctx, &pb.ConfigureRequest{Name: "x", ConfigJson: []byte(`{"dri":"/tmp"}`)})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	assert.Contains(t, status.Convert(err).Message(), `unknown field "dri"`)

	_, err = c.Configure(ctx, &pb.ConfigureRequest{Name: "sick"})
	require.NoError(t, err, "no config block is {}")
	h, err := c.Health(ctx, &pb.HealthRequest{})
	require.NoError(t, err)
	assert.False(t, h.Ready)
	assert.Equal(t, "sink unreachable", h.Reason)
}

// A verdict from a newer plugin with a status this host does not know is
// retried, never dropped.
func TestUnknownStatusIsRetryable(t *testing.T) {
	resp := &pb.WriteResponse{Batch: &pb.Verdict{Status: 42, Reason: "from the future"}}
	err := wire.Error(resp, 2, "out")
	require.Error(t, err)
	assert.False(t, event.IsPermanent(err))
}
