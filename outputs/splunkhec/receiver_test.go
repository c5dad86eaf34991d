package splunkhec

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/internal/peertest"
)

// receiver is a private instance of the HEC test peer
// (test/peers/splunkhec: the collector's splunk_hec receiver), which a test
// may kill and restart on the same port and file.
type receiver struct {
	t          testing.TB
	bin, dir   string
	port       int
	token      string
	indexDelay time.Duration
	cmd        *exec.Cmd
	exited     chan struct{}
}

// startReceiver starts a receiver accepting token, or skips the test when
// the peer binary is not built (fails under CI).
func startReceiver(t testing.TB, token string, indexDelay time.Duration) *receiver {
	t.Helper()
	bin := peertest.Require(t, "splunkhec", "KUBETRAIL_HEC_RECEIVER_BIN")
	r := &receiver{t: t, bin: bin, dir: t.TempDir(), token: token, indexDelay: indexDelay}
	t.Cleanup(func() { r.kill() })
	// The free port found may be taken by another process before the
	// receiver binds it (the machine is shared): try another.
	for attempt := 1; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		r.port = l.Addr().(*net.TCPAddr).Port
		require.NoError(t, l.Close())
		err = r.tryStart()
		if err == nil {
			return r
		}
		if attempt == 3 {
			t.Fatal(err)
		}
	}
}

func (r *receiver) endpoint() string { return fmt.Sprintf("http://127.0.0.1:%d", r.port) }
func (r *receiver) file() string     { return filepath.Join(r.dir, "received.ndjson") }

func (r *receiver) start() {
	r.t.Helper()
	// A restart binds the port the agent knows; it was ours a moment ago.
	var err error
	for range 3 {
		if err = r.tryStart(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.t.Fatal(err)
}

// tryStart starts the receiver and waits until it answers; it reports
// the receiver's log when it exits first.
func (r *receiver) tryStart() error {
	r.t.Helper()
	cfg := fmt.Sprintf(`extensions:
  bearertokenauth: {scheme: Splunk, token: %q}
  indexer: {index_delay: %s}
receivers:
  splunk_hec:
    endpoint: 127.0.0.1:%d
    include_metadata: true
    auth: {authenticator: bearertokenauth}
    ack: {extension: indexer}
exporters:
  recordfile: {path: %s, journal: %s}
service:
  extensions: [bearertokenauth, indexer]
  telemetry: {logs: {level: warn}, metrics: {level: none}}
  pipelines:
    logs: {receivers: [splunk_hec], exporters: [recordfile]}
`, r.token, r.indexDelay, r.port, r.file(), filepath.Join(r.dir, "journal"))
	path := filepath.Join(r.dir, "config.yaml")
	require.NoError(r.t, os.WriteFile(path, []byte(cfg), 0o600))
	logf, err := os.OpenFile(filepath.Join(r.dir, "receiver.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(r.t, err)
	defer logf.Close()
	r.cmd = exec.Command(r.bin, "--config", path)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	require.NoError(r.t, r.cmd.Start())
	r.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.cmd, r.exited)
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, r.endpoint()+"/services/collector/health", nil)
		req.Header.Set("Authorization", "Splunk "+r.token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-r.exited:
			r.cmd = nil
			log, _ := os.ReadFile(filepath.Join(r.dir, "receiver.log"))
			return fmt.Errorf("receiver exited at start:\n%s", log)
		default:
		}
		require.True(r.t, time.Now().Before(deadline), "receiver not ready after 30s")
		time.Sleep(50 * time.Millisecond)
	}
}

// kill SIGKILLs the receiver: what it held unacknowledged is lost.
func (r *receiver) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
	r.cmd = nil
}

// restart kills the receiver and starts it again on the same port and
// file, accepting token, with indexDelay.
func (r *receiver) restart(token string, indexDelay time.Duration) {
	r.t.Helper()
	r.kill()
	r.token, r.indexDelay = token, indexDelay
	r.start()
}

// Record is one line the receiver wrote (test/peers/splunkhec/receiver).
type Record struct {
	Channel    string            `json:"channel"`
	Encoding   string            `json:"encoding"`
	TimeNanos  int64             `json:"time_ns"`
	Host       string            `json:"host"`
	Source     string            `json:"source"`
	Sourcetype string            `json:"sourcetype"`
	Index      string            `json:"index"`
	Fields     map[string]string `json:"fields"`
	Event      json.RawMessage   `json:"event"`
}

// key is the event's auditID/stage.
func (rec *Record) key() string {
	var ev struct{ AuditID, Stage string }
	_ = json.Unmarshal(rec.Event, &ev)
	return ev.AuditID + "/" + ev.Stage
}

func readRecords(t testing.TB, path string) []Record {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	// The receiver may be writing: a last line without its newline is not
	// complete yet.
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	var recs []Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var rec Record
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec))
		recs = append(recs, rec)
	}
	require.NoError(t, sc.Err())
	return recs
}

// polled counts the acks clients asked about: a client polls an ackId
// only after it got the 200 carrying it.
func (r *receiver) polled() int {
	data, _ := os.ReadFile(filepath.Join(r.dir, "journal"))
	return strings.Count(string(data), "polled ")
}
