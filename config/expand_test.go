package config

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testExpander(env map[string]string, files map[string]string) (*expander, *int) {
	reads := 0
	x := newExpander("/etc/kubetrail/agent.yaml")
	x.lookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	x.readFile = func(p string) ([]byte, error) {
		reads++
		if v, ok := files[p]; ok {
			return []byte(v), nil
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return x, &reads
}

func TestExpand(t *testing.T) {
	x, _ := testExpander(
		map[string]string{"HOST": "splunk", "EMPTY": "", "PORT": "8088"},
		map[string]string{
			"/etc/kubetrail/token":  "tok\n",
			"/run/secrets/two":      "two\n\n",
			"/etc/kubetrail/crlf":   "win\r\n",
			"/etc/kubetrail/no-eol": "raw",
		},
	)
	tests := []struct {
		in, want    string
		substituted bool
	}{
		{"plain", "plain", false},
		{"", "", false},
		{"${HOST}", "splunk", true},
		{"https://${HOST}:${PORT}/x", "https://splunk:8088/x", true},
		{"${env:HOST}", "splunk", true},
		{"${MISSING:-fallback}", "fallback", true},
		{"${EMPTY:-fallback}", "fallback", true},
		{"${EMPTY}", "", true},
		{"${HOST:-unused}", "splunk", true},
		{"${MISSING:-}", "", true},
		{"${MISSING:-a:b-c}", "a:b-c", true},
		{"${file:token}", "tok", true},
		{"${file:/run/secrets/two}", "two\n", true}, // only one newline trimmed
		{"${file:crlf}", "win", true},
		{"${file:no-eol}", "raw", true},
		{"$$", "$", false},
		{"$${HOST}", "${HOST}", false},
		{"$$$${HOST}", "$${HOST}", false},
		{"$$${HOST}", "$splunk", true},
		{"^foo$", "^foo$", false},
		{"a $ b $x", "a $ b $x", false},
		{"$", "$", false},
	}
	for _, tt := range tests {
		got, sub, err := x.expand(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
		assert.Equal(t, tt.substituted, sub, tt.in)
	}
}

func TestExpandErrors(t *testing.T) {
	x, _ := testExpander(map[string]string{"SET": "v"}, nil)
	for in, want := range map[string]string{
		"${MISSING}":      "environment variable MISSING is not set (write ${MISSING:-default} to give a default)",
		"${env:MISSING}":  "environment variable MISSING is not set (write ${MISSING:-default} to give a default)",
		"${}":             `invalid reference "${}" (use ${NAME}, ${NAME:-default}, ${file:PATH}, or $$ for a literal $)`,
		"${1X}":           `invalid reference "${1X}" (use ${NAME}, ${NAME:-default}, ${file:PATH}, or $$ for a literal $)`,
		"${vault:x}":      `invalid reference "${vault:x}" (use ${NAME}, ${NAME:-default}, ${file:PATH}, or $$ for a literal $)`,
		"abc ${SET":       `unterminated "${" (write $$ for a literal $)`,
		"${file:}":        "${file:} needs a path, e.g. ${file:/etc/kubetrail/token}",
		"${file:missing}": "cannot read ${file:missing}: open /etc/kubetrail/missing: file does not exist",
	} {
		_, _, err := x.expand(in)
		assert.EqualError(t, err, want, in)
	}
	_, _, err := x.expand("${file:missing}")
	assert.True(t, errors.Is(err, fs.ErrNotExist))
}

func TestExpandReadsEachFileOnce(t *testing.T) {
	x, reads := testExpander(nil, map[string]string{"/etc/kubetrail/t": "secret\n"})
	for range 3 {
		got, _, err := x.expand("${file:t}")
		require.NoError(t, err)
		assert.Equal(t, "secret", got)
	}
	assert.Equal(t, 1, *reads)
}

func TestScrub(t *testing.T) {
	x, _ := testExpander(map[string]string{"TOKEN": "abcd-1234", "SHORT": "on", "QUOTE": "a\"b\nc-long"}, nil)
	for _, in := range []string{"${TOKEN}", "${SHORT}", "${QUOTE}", "${UNSET:-default-value}"} {
		_, _, err := x.expand(in)
		require.NoError(t, err)
	}
	assert.Equal(t, `bad token ${TOKEN} ("${TOKEN}")`, x.scrub(`bad token abcd-1234 ("abcd-1234")`))
	assert.Equal(t, `quoted "${QUOTE}" or escaped ${QUOTE}`, x.scrub(`quoted "a\"b\nc-long" or escaped a\"b\nc-long`))
	assert.Equal(t, "turned on", x.scrub("turned on"), "values under 4 bytes are not scrubbed everywhere")
	assert.Equal(t, "default-value", x.scrub("default-value"), "defaults are written in the file: not secret")
}
