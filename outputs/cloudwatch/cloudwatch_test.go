package cloudwatch

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

// corpusBatch returns the first n events of the real corpus, restamped to
// the last minutes (CloudWatch rejects events older than 14 days) with
// their order kept.
func corpusBatch(t *testing.T, n int) *event.Batch {
	t.Helper()
	lines := testcorpus.Load(t)[:n]
	base := time.Now().Add(-time.Hour)
	events := make([]event.Event, len(lines))
	for i, l := range lines {
		ev, err := event.New(stamp(l.Raw, base.Add(time.Duration(i)*time.Millisecond)))
		require.NoError(t, err)
		events[i] = ev
	}
	return batchOf(events...)
}

func TestWriteCreatesGroupAndStreamAndReadsBack(t *testing.T) {
	endpoint := moto(t)
	cfg := testConfig(endpoint)
	cfg.RetentionDays = 30
	o := newTestOutput(t, cfg)
	b := corpusBatch(t, 500)
	require.NoError(t, o.Write(context.Background(), b))

	got := readStream(t, endpoint, testGroup, "node-1")
	require.Len(t, got, len(b.Events))
	for i, ev := range b.Events {
		assert.Equal(t, string(ev.Raw), got[i].Message, "event %d is sent as its raw JSON", i)
		assert.Equal(t, timestamp(ev.StageTimestamp, time.Now), got[i].Timestamp, "event %d is timestamped with stageTimestamp", i)
	}
	groups, err := readClient(endpoint).DescribeLogGroups(context.Background(), &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(testGroup)})
	require.NoError(t, err)
	require.Len(t, groups.LogGroups, 1)
	assert.Equal(t, int32(30), aws.ToInt32(groups.LogGroups[0].RetentionInDays), "retention_days is set on the group the output created")

	// A second agent (a restart) finds group and stream there: AlreadyExists is fine.
	o2 := newTestOutput(t, cfg)
	require.NoError(t, o2.Write(context.Background(), corpusBatch(t, 3)))
	assert.Len(t, readStream(t, endpoint, testGroup, "node-1"), len(b.Events)+3)
}

func TestRetentionOnlyOnGroupsItCreates(t *testing.T) {
	endpoint := moto(t)
	_, err := readClient(endpoint).CreateLogGroup(context.Background(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(testGroup)})
	require.NoError(t, err)
	cfg := testConfig(endpoint)
	cfg.RetentionDays = 7
	require.NoError(t, newTestOutput(t, cfg).Write(context.Background(), corpusBatch(t, 1)))
	groups, err := readClient(endpoint).DescribeLogGroups(context.Background(), &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(testGroup)})
	require.NoError(t, err)
	require.Len(t, groups.LogGroups, 1)
	assert.Nil(t, groups.LogGroups[0].RetentionInDays, "an existing group's retention is left alone")
}

func TestStreamTemplate(t *testing.T) {
	endpoint := moto(t)
	cfg := testConfig(endpoint)
	cfg.LogStream = "ns-{objectRef.namespace|cluster}/{user.username}"
	o := newTestOutput(t, cfg)
	b := corpusBatch(t, 2000)
	require.NoError(t, o.Write(context.Background(), b))

	want := map[string][]string{}
	for _, ev := range b.Events {
		ns := string(ev.ObjectRef.Namespace)
		if ns == "" {
			ns = "cluster"
		}
		s := string(replaceInvalid([]byte("ns-" + ns + "/" + string(ev.Username))))
		want[s] = append(want[s], string(ev.Raw))
	}
	require.Greater(t, len(want), 3, "the corpus spans several namespaces and users")
	got := readAll(t, endpoint, testGroup)
	require.Len(t, got, len(want))
	for s, raws := range want {
		var msgs []string
		for _, e := range got[s] {
			msgs = append(msgs, e.Message)
		}
		assert.Equal(t, raws, msgs, "stream %s holds its events in order", s)
	}
}

func TestRecreatesDeletedGroupAndStream(t *testing.T) {
	endpoint := moto(t)
	o := newTestOutput(t, testConfig(endpoint))
	c := readClient(endpoint)
	ctx := context.Background()
	require.NoError(t, o.Write(ctx, corpusBatch(t, 5)))

	_, err := c.DeleteLogStream(ctx, &cloudwatchlogs.DeleteLogStreamInput{LogGroupName: aws.String(testGroup), LogStreamName: aws.String("node-1")})
	require.NoError(t, err)
	require.NoError(t, o.Write(ctx, corpusBatch(t, 7)), "a deleted stream is created again")
	assert.Len(t, readStream(t, endpoint, testGroup, "node-1"), 7)

	_, err = c.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(testGroup)})
	require.NoError(t, err)
	require.NoError(t, o.Write(ctx, corpusBatch(t, 9)), "a deleted group is created again")
	assert.Len(t, readStream(t, endpoint, testGroup, "node-1"), 9)
}

func TestMissingDestinationWithoutCreateIsUnready(t *testing.T) {
	endpoint := moto(t)
	cfg := testConfig(endpoint)
	cfg.CreateLogGroup, cfg.CreateLogStream = false, false
	o := newTestOutput(t, cfg)
	ctx := context.Background()
	err := o.Write(ctx, corpusBatch(t, 5))
	require.Error(t, err)
	assert.True(t, event.IsUnready(err), "missing group: %v", err)
	assert.False(t, event.IsPermanent(err))

	c := readClient(endpoint)
	_, err = c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(testGroup)})
	require.NoError(t, err)
	err = o.Write(ctx, corpusBatch(t, 5))
	assert.True(t, event.IsUnready(err), "missing stream: %v", err)

	_, err = c.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(testGroup), LogStreamName: aws.String("node-1")})
	require.NoError(t, err)
	require.NoError(t, o.Write(ctx, corpusBatch(t, 5)), "recovers by itself once they exist")
	assert.Len(t, readStream(t, endpoint, testGroup, "node-1"), 5)
}

func TestRejectedEventsAreExactlyThoseDeadLettered(t *testing.T) {
	endpoint := moto(t)
	o := newTestOutput(t, testConfig(endpoint))
	now := time.Now()
	// Batch order is not time order: the output sorts, and must map
	// CloudWatch's request indexes back to the batch's.
	b := batchOf(
		auditEvent(t, "ok-1", now.Add(-time.Minute), 0),
		auditEvent(t, "old-1", now.Add(-15*24*time.Hour), 0),
		// moto reports only the last too-new index (AWS: the first), so
		// one too-new event keeps this test true on both.
		auditEvent(t, "new-1", now.Add(3*time.Hour), 0),
		auditEvent(t, "ok-2", now.Add(-2*time.Minute), 0),
		auditEvent(t, "old-2", now.Add(-20*24*time.Hour), 0),
	)
	err := o.Write(context.Background(), b)
	var partial *event.PartialError
	require.True(t, errors.As(err, &partial), "got %v", err)
	require.Len(t, partial.Failed, 3)
	for _, i := range []int{1, 2, 4} {
		require.Contains(t, partial.Failed, i)
		assert.True(t, event.IsPermanent(partial.Failed[i]), "event %d", i)
	}
	assert.Contains(t, partial.Failed[1].Error(), "too old")
	assert.Contains(t, partial.Failed[4].Error(), "too old")
	assert.Contains(t, partial.Failed[2].Error(), "too new")
	got := readStream(t, endpoint, testGroup, "node-1")
	require.Len(t, got, 2)
	assert.Equal(t, string(b.Events[3].Raw), got[0].Message, "sorted by stageTimestamp")
	assert.Equal(t, string(b.Events[0].Raw), got[1].Message)
}

func TestEmptyEventIsDeadLetteredNotSent(t *testing.T) {
	endpoint := moto(t)
	p := newFaultProxy(t, endpoint)
	o := newTestOutput(t, testConfig(p.URL()))
	now := time.Now()
	b := batchOf(auditEvent(t, "a", now, 0), event.Event{}, auditEvent(t, "b", now, 0))
	err := o.Write(context.Background(), b)
	var partial *event.PartialError
	require.True(t, errors.As(err, &partial), "got %v", err)
	require.Len(t, partial.Failed, 1)
	assert.True(t, event.IsPermanent(partial.Failed[1]))
	assert.ErrorIs(t, partial.Failed[1], errEmpty)
	assert.Len(t, readStream(t, endpoint, testGroup, "node-1"), 2)
	assert.Equal(t, 1, p.count("PutLogEvents"))
}

func TestOnlyEmptyEventsSendNothing(t *testing.T) {
	endpoint := moto(t)
	p := newFaultProxy(t, endpoint)
	o := newTestOutput(t, testConfig(p.URL()))
	err := o.Write(context.Background(), batchOf(event.Event{}))
	var partial *event.PartialError
	require.True(t, errors.As(err, &partial), "got %v", err)
	assert.True(t, event.IsPermanent(partial.Failed[0]))
	assert.Zero(t, p.count("PutLogEvents"))
}
