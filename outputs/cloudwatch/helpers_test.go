package cloudwatch

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/peertest"
)

const testGroup = "/kubetrail/test"

// moto returns the moto server's endpoint, reset to an empty state, and
// points the SDK's default credential chain at dummy credentials.
func moto(t *testing.T) string {
	t.Helper()
	endpoint := peertest.Require(t, "moto", "MOTO_ENDPOINT")
	resetMoto(t, endpoint)
	awsTestEnv(t)
	return endpoint
}

func resetMoto(t *testing.T, endpoint string) {
	t.Helper()
	resp, err := http.Post(endpoint+"/moto-api/reset", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// awsTestEnv isolates the SDK from the machine's AWS configuration.
func awsTestEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("NODE_NAME", "node-1")
}

// testConfig is the output's default configuration pointed at endpoint.
func testConfig(endpoint string) *Config {
	c := defaultConfig()
	c.LogGroup = testGroup
	c.Endpoint = endpoint
	c.Timeout = config.Duration(5 * time.Second)
	return c
}

func newTestOutput(t *testing.T, cfg *Config) *Output {
	t.Helper()
	o := newUnstarted(t, cfg)
	require.NoError(t, o.Start(context.Background()))
	return o
}

// newUnstarted builds an output without calling Start.
func newUnstarted(t *testing.T, cfg *Config) *Output {
	t.Helper()
	require.NoError(t, cfg.Validate())
	o, err := New(context.Background(), cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = o.Close(context.Background()) })
	return o
}

// readClient is a client straight to endpoint, for reading back.
func readClient(endpoint string) *cloudwatchlogs.Client {
	return cloudwatchlogs.New(cloudwatchlogs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
}

type logEvent struct {
	Message   string
	Timestamp int64
}

// readStream returns every event of a stream, oldest first, through
// GetLogEvents' pagination.
func readStream(t *testing.T, endpoint, group, stream string) []logEvent {
	t.Helper()
	out, err := tryReadStream(endpoint, group, stream)
	require.NoError(t, err)
	return out
}

// tryReadStream is readStream returning its error (ResourceNotFound before
// the stream exists).
func tryReadStream(endpoint, group, stream string) ([]logEvent, error) {
	c := readClient(endpoint)
	var out []logEvent
	var token *string
	for {
		resp, err := c.GetLogEvents(context.Background(), &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
			StartFromHead: aws.Bool(true), NextToken: token,
		})
		if err != nil {
			return nil, err
		}
		for _, e := range resp.Events {
			out = append(out, logEvent{Message: aws.ToString(e.Message), Timestamp: aws.ToInt64(e.Timestamp)})
		}
		if len(resp.Events) == 0 || resp.NextForwardToken == nil || (token != nil && *token == *resp.NextForwardToken) {
			return out, nil
		}
		token = resp.NextForwardToken
	}
}

// streams lists the group's streams (DescribeLogStreams, paginated).
func streams(t *testing.T, endpoint, group string) []string {
	t.Helper()
	c := readClient(endpoint)
	var names []string
	p := cloudwatchlogs.NewDescribeLogStreamsPaginator(c, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String(group)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		require.NoError(t, err)
		for _, s := range page.LogStreams {
			names = append(names, aws.ToString(s.LogStreamName))
		}
	}
	sort.Strings(names)
	return names
}

// readAll returns every event of every stream of the group.
func readAll(t *testing.T, endpoint, group string) map[string][]logEvent {
	t.Helper()
	out := map[string][]logEvent{}
	for _, s := range streams(t, endpoint, group) {
		out[s] = readStream(t, endpoint, group, s)
	}
	return out
}

var stageTimestampField = regexp.MustCompile(`"stageTimestamp":"[^"]*"`)

// stamp sets an event's stageTimestamp.
func stamp(raw []byte, ts time.Time) []byte {
	return stageTimestampField.ReplaceAll(raw, []byte(`"stageTimestamp":"`+ts.UTC().Format("2006-01-02T15:04:05.000000Z")+`"`))
}

// auditEvent builds a small audit event with the given id and time; pad
// makes its JSON exactly size bytes long when size > 0.
func auditEvent(t testing.TB, id string, ts time.Time, size int) event.Event {
	t.Helper()
	raw := fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":%q,"stage":"ResponseComplete","verb":"get","user":{"username":"system:admin"},"objectRef":{"resource":"pods","namespace":"default","name":"p"},"stageTimestamp":"%s","annotations":{"pad":"`,
		id, ts.UTC().Format("2006-01-02T15:04:05.000000Z"))
	tail := `"}}`
	if size > 0 {
		n := size - len(raw) - len(tail)
		if n < 0 {
			t.Fatalf("event of %d bytes cannot be smaller than %d", size, len(raw)+len(tail))
		}
		raw += strings.Repeat("x", n)
	}
	raw += tail
	ev, err := event.New([]byte(raw))
	require.NoError(t, err)
	return ev
}

func batchOf(events ...event.Event) *event.Batch {
	b := &event.Batch{Events: events}
	for _, e := range events {
		b.Bytes += len(e.Raw)
	}
	return b
}

func configSize(n int) config.Size { return config.Size(n) }

func replaceOnce(s, old, new string) string { return strings.Replace(s, old, new, 1) }
