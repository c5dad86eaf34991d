package app

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A client that hangs up in the middle of a /metrics scrape (a Prometheus
// timeout) is not an ERROR in the agent's log.
func TestAbandonedScrapeIsNotAnError(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "big", Help: "many series"}, []string{"series"})
	reg.MustRegister(g)
	for i := range 100_000 { // a response of several MiB: larger than the socket buffers
		g.WithLabelValues(fmt.Sprintf("series-%06d-%s", i, strings.Repeat("x", 40))).Set(1)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(httpHandler(reg, &readiness{}, log))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	_, err = fmt.Fprintf(conn, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	buf := make([]byte, 4096)
	_, err = conn.Read(buf) // the scrape is under way
	require.NoError(t, err)
	require.NoError(t, conn.(*net.TCPConn).SetLinger(0)) // hang up with a reset
	require.NoError(t, conn.Close())

	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "metrics scrape abandoned") },
		10*time.Second, 10*time.Millisecond, "logs:\n%s", logs.String())
	assert.NotContains(t, logs.String(), "level=ERROR")
}
