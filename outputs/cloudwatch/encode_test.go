package cloudwatch

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

// serialize runs a protocol's SerializeRequest for PutLogEvents and returns
// the request.
func serialize(t *testing.T, p smithyhttp.ClientProtocol, in *cloudwatchlogs.PutLogEventsInput) (*smithyhttp.Request, []byte) {
	t.Helper()
	var schema *smithy.OperationSchema
	// The SDK's schema of PutLogEvents, as its client passes it.
	c := cloudwatchlogs.New(cloudwatchlogs.Options{Region: "us-east-1"}, func(o *cloudwatchlogs.Options) {
		o.Protocol = capture{ClientProtocol: o.Protocol, schema: &schema}
	})
	_, _ = c.PutLogEvents(context.Background(), &cloudwatchlogs.PutLogEventsInput{
		LogGroupName: aws.String("g"), LogStreamName: aws.String("s"),
		LogEvents: []types.InputLogEvent{{Message: aws.String("m"), Timestamp: aws.Int64(1)}},
	})
	require.NotNil(t, schema)
	req := smithyhttp.NewStackRequest().(*smithyhttp.Request)
	require.NoError(t, p.SerializeRequest(context.Background(), schema, in, req))
	body, err := io.ReadAll(req.GetStream())
	require.NoError(t, err)
	return req, body
}

// capture records the operation schema and stops the call.
type capture struct {
	smithyhttp.ClientProtocol
	schema **smithy.OperationSchema
}

func (c capture) SerializeRequest(_ context.Context, s *smithy.OperationSchema, _ smithy.Serializable, _ *smithyhttp.Request) error {
	*c.schema = s
	return context.Canceled
}

// The body and headers are the SDK's, byte for byte once decoded, for real
// audit events.
func TestPutProtocolMatchesTheSDK(t *testing.T) {
	sdk := cloudwatchlogs.New(cloudwatchlogs.Options{Region: "us-east-1"}).Options().Protocol
	in := &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("/k8s/audit \"x\""), LogStreamName: aws.String("node-1")}
	for i, l := range testcorpus.Load(t)[:300] {
		in.LogEvents = append(in.LogEvents, types.InputLogEvent{Message: aws.String(string(l.Raw)), Timestamp: aws.Int64(int64(1e12 + i))})
	}
	in.LogEvents = append(in.LogEvents, types.InputLogEvent{Message: aws.String("\x00\x1f\x7f\"\\/<>&\u2028é日本\U0001F600\t\r\n"), Timestamp: aws.Int64(-1)})
	wantReq, wantBody := serialize(t, sdk, in)
	gotReq, gotBody := serialize(t, putProtocol{sdk}, in)

	var want, got any
	require.NoError(t, json.Unmarshal(wantBody, &want))
	require.NoError(t, json.Unmarshal(gotBody, &got))
	assert.Equal(t, want, got)
	assert.Equal(t, wantReq.Header, gotReq.Header)
	assert.Equal(t, wantReq.Method, gotReq.Method)
	assert.Equal(t, wantReq.URL.String(), gotReq.URL.String())
	assert.LessOrEqual(t, len(gotBody), len(wantBody)+len(wantBody)/100, "no bigger on the wire")
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add(testcorpus.MetadataEvent)
	f.Add("\x00\"\\\u2028\U0001F600")
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // the output sends valid UTF-8 only
		}
		enc := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("%q encodes as invalid JSON %q: %v", s, enc, err)
		}
		if back != s {
			t.Fatalf("%q round-trips as %q", s, back)
		}
	})
}
