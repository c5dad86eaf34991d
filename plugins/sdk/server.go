package sdk

import (
	"context"
	"log/slog"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/plugins/internal/wire"
	pb "github.com/kubetrail/kubetrail/plugins/proto"
)

// server adapts an Output to the gRPC service.
type server struct {
	pb.UnimplementedOutputServer
	impl Output
	log  *slog.Logger

	mu         sync.Mutex
	configured bool
}

func (s *server) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	js := req.GetConfigJson()
	if len(js) == 0 {
		js = []byte("{}")
	}
	log := s.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := Config{Name: req.GetName(), JSON: js, AgentVersion: req.GetAgentVersion(), Logger: log}
	if err := s.impl.Configure(ctx, cfg); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	s.mu.Lock()
	s.configured = true
	s.mu.Unlock()
	return &pb.ConfigureResponse{}, nil
}

func (s *server) ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.configured {
		return status.Error(codes.FailedPrecondition, "Configure was not called")
	}
	return nil
}

func (s *server) Write(ctx context.Context, req *pb.WriteRequest) (*pb.WriteResponse, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	batch := &event.Batch{Events: make([]event.Event, len(req.GetEvents()))}
	for i, e := range req.GetEvents() {
		// The agent only buffers events whose fields it could extract;
		// should one fail here anyway, the plugin still gets its bytes.
		ev, _ := event.New(e.GetRaw())
		batch.Events[i] = ev
		batch.Bytes += len(ev.Raw)
	}
	return wire.Response(s.impl.Write(ctx, batch), len(batch.Events)), nil
}

func (s *server) Health(ctx context.Context, _ *pb.HealthRequest) (*pb.HealthResponse, error) {
	if err := s.ready(); err != nil {
		return &pb.HealthResponse{Ready: false, Reason: "not configured"}, nil
	}
	if h, ok := s.impl.(HealthChecker); ok {
		if err := h.Health(ctx); err != nil {
			return &pb.HealthResponse{Ready: false, Reason: err.Error()}, nil
		}
	}
	return &pb.HealthResponse{Ready: true}, nil
}

func (s *server) Close(ctx context.Context, _ *pb.CloseRequest) (*pb.CloseResponse, error) {
	if err := s.impl.Close(ctx); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &pb.CloseResponse{}, nil
}
