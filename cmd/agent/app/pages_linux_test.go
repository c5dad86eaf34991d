package app

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// written is changed at run time: releasing the executable's pages must
// not revert it to the value in the file.
var written = []int{1, 2, 3}

// imageRSS returns the resident KiB of the test binary's read-only and
// writable mappings.
func imageRSS(t *testing.T) (readOnly, writable int) {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	require.NoError(t, err)
	f, err := os.Open("/proc/self/smaps")
	require.NoError(t, err)
	defer f.Close()
	var cur *int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-"):
			cur = nil
			if strings.Join(fields[5:], " ") == exe {
				if strings.Contains(fields[1], "w") {
					cur = &writable
				} else {
					cur = &readOnly
				}
			}
		case cur != nil && fields[0] == "Rss:":
			kb, err := strconv.Atoi(fields[1])
			require.NoError(t, err)
			*cur += kb
		}
	}
	require.NoError(t, sc.Err())
	return readOnly, writable
}

func TestReleaseStartupPages(t *testing.T) {
	written[1] = 42
	ro, rw := imageRSS(t)
	require.Positive(t, ro)
	n := releaseStartupPages()
	assert.Positive(t, n, "released nothing")
	roAfter, rwAfter := imageRSS(t)
	assert.Less(t, roAfter, ro/2, "read-only image pages still resident (KiB)")
	assert.GreaterOrEqual(t, rwAfter, rw, "writable image pages must be left alone (KiB)")
	assert.Equal(t, []int{1, 42, 3}, written, "a written variable was reverted")
	// Code and read-only data come back on use.
	assert.Equal(t, "3", strconv.Itoa(len(written)))
}
