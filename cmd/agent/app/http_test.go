package app

import (
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kubetrail/kubetrail/internal/syncbuf"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A client that hangs up in the middle of a /metrics scrape (a Prometheus
// timeout) is not an ERROR in the agent's log.
func TestAbandonedScrapeIsNotAnError(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "big", Help: "many series"}, []string{"series"})
	reg.MustRegister(g)
	for i := range 100_000 { // a response of several MiB: larger than the socket buffers
		g.WithLabelValues(fmt.Sprintf("series-%06d-%s", i, strings.Repeat("x", 40))).Set(1)
	}
	var logs syncbuf.Buffer
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
