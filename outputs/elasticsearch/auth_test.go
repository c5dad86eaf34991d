package elasticsearch

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/pipeline"
)

// authGate stands in for the cluster's security layer (neither test node
// has one): it forwards to the real node only requests with the password
// it currently accepts, and answers the others as Elasticsearch's security
// does, 401 with a security_exception.
type authGate struct {
	accept atomic.Value // string
	denied atomic.Int64
	// bulkRefusedUntil refuses bulks whatever the password, until then (a
	// role that lost its write privilege).
	bulkRefusedUntil atomic.Value // time.Time
}

func (g *authGate) start(t *testing.T, target string) string {
	u, err := url.Parse(target)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // a broken path is the point
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		until, _ := g.bulkRefusedUntil.Load().(time.Time)
		if user, pw, ok := r.BasicAuth(); !ok || user != "kubetrail" || pw != g.accept.Load().(string) ||
			strings.HasSuffix(r.URL.Path, "/_bulk") && time.Now().Before(until) {
			g.denied.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("WWW-Authenticate", `Basic realm="security" charset="UTF-8"`)
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":{"root_cause":[{"type":"security_exception","reason":"unable to authenticate user [kubetrail] for REST request [` + r.URL.Path + `]"}],"type":"security_exception","reason":"unable to authenticate user [kubetrail] for REST request [` + r.URL.Path + `]"},"status":401}`)) //nolint:errcheck
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A rejected password makes Start and Write fail as Unready: nothing is
// dead-lettered, the events stay buffered, and once the cluster accepts
// them again they are all delivered, without restarting anything. The
// password shows in no error.
func TestAuthFailureIsUnreadyAndRecovers(t *testing.T) {
	engines(t, func(t *testing.T, e *engine) {
		gate := &authGate{}
		gate.accept.Store("old-password")
		gated := *e
		gated.clientURL = gate.start(t, e.clientURL)
		idx := uniqueName("kt-auth")
		e.cleanup(t, idx, "kubetrail-"+idx)
		cfg := defaultConfig()
		cfg.Addresses, cfg.Index, cfg.Username, cfg.Password = []string{gated.clientURL}, idx, "kubetrail", "new-password"
		o, err := New(cfg, pipeline.Settings{Name: idx})
		require.NoError(t, err)
		err = o.Start(t.Context())
		require.True(t, event.IsUnready(err), "%v", err)
		assert.Contains(t, err.Error(), "HTTP 401")
		assert.NotContains(t, err.Error(), "new-password")

		rec := &recorder{Output: o}
		var unready atomic.Int64
		evs, _ := corpus(t)
		evs = evs[:300]
		// The password is fixed, so Start succeeds; then bulks are refused
		// for two seconds.
		gate.accept.Store("new-password")
		require.NoError(t, o.Start(t.Context()))
		gate.bulkRefusedUntil.Store(time.Now().Add(2 * time.Second))
		dl := deliver(t, &unreadyCounter{recorder: rec, n: &unready}, evs, pipeline.DeliveryConfig{
			MaxEvents: 100, MaxWait: time.Millisecond,
			Retry: pipeline.RetryConfig{InitialInterval: 50 * time.Millisecond, MaxInterval: 200 * time.Millisecond, Multiplier: 2},
		}, func() bool { return e.count(t, idx) == len(evs) })
		assert.Empty(t, dl)
		assert.Positive(t, unready.Load(), "Write failed as Unready while the password was refused")
		assert.Positive(t, gate.denied.Load())
	})
}

// unreadyCounter counts the Writes that failed as Unready.
type unreadyCounter struct {
	*recorder
	n *atomic.Int64
}

func (u *unreadyCounter) Write(ctx context.Context, b *event.Batch) error {
	err := u.recorder.Write(ctx, b)
	if event.IsUnready(err) {
		u.n.Add(1)
		if strings.Contains(err.Error(), "new-password") {
			panic("the password is in an error")
		}
	}
	return err
}
