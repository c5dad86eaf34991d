package cloudwatch

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
)

const testRole = "arn:aws:iam::123456789012:role/kubetrail"

// role_arn: the output assumes the role through STS (moto's) with the
// default chain's credentials and signs with the temporary ones.
func TestAssumesRole(t *testing.T) {
	endpoint := moto(t)
	p := newFaultProxy(t, endpoint)
	t.Setenv("AWS_ENDPOINT_URL_STS", p.URL())
	cfg := testConfig(p.URL())
	cfg.RoleARN = testRole
	o := newTestOutput(t, cfg)
	require.NoError(t, o.Write(context.Background(), corpusBatch(t, 3)))
	require.NoError(t, o.Write(context.Background(), corpusBatch(t, 3)))
	assert.Len(t, readStream(t, endpoint, testGroup, "node-1"), 6)
	assert.Equal(t, 1, p.count("AssumeRole"), "the role's credentials are cached")
	assert.Equal(t, "testing", p.accessKey("AssumeRole"), "AssumeRole is signed with the default chain's credentials")
	key := p.accessKey("PutLogEvents")
	assert.NotEqual(t, "testing", key)
	assert.True(t, strings.HasPrefix(key, "ASIA"), "PutLogEvents is signed with the role's temporary credentials (%s)", key)
}

func TestRoleDeniedIsUnready(t *testing.T) {
	endpoint := moto(t)
	p := newFaultProxy(t, endpoint)
	t.Setenv("AWS_ENDPOINT_URL_STS", p.URL())
	p.setFault(func(op string) fault {
		if op == "AssumeRole" {
			return fault{status: 403, code: "AccessDenied"}
		}
		return fault{}
	})
	cfg := testConfig(p.URL())
	cfg.RoleARN = testRole
	o := newUnstarted(t, cfg)
	err := o.Start(context.Background())
	require.Error(t, err)
	assert.True(t, event.IsUnready(err), "%v", err)
	assert.Zero(t, p.count("CreateLogGroup"))

	p.setFault(nil)
	require.NoError(t, o.Start(context.Background()), "recovers by itself")
	require.NoError(t, o.Write(context.Background(), corpusBatch(t, 3)))
}

func TestNoCredentialsIsUnready(t *testing.T) {
	endpoint := moto(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	o := newUnstarted(t, testConfig(endpoint))
	for _, err := range []error{o.Start(context.Background()), o.Write(context.Background(), corpusBatch(t, 3))} {
		require.Error(t, err)
		assert.True(t, event.IsUnready(err), "%v", err)
		assert.False(t, event.IsPermanent(err))
	}
}
