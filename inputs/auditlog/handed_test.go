package auditlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHandedRecordRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x", "handed")
	w := newHandedWriter(path)
	r := handedRecord{id: newIdentity(7, 8, []byte("first line\n")), off: 12345, seen: 20000,
		lastTime: "2026-11-22T02:24:19.072382Z", key: "2026-11-22T02-24-24.135+", boot: "0b5b2a55-4d7e-4e0b-9a43-5f3c2a1d9e01"}
	require.NoError(t, w.write(r))
	r.off = 99 // rewritten in place, shorter
	require.NoError(t, w.write(r))
	got, ok := loadHanded(path)
	require.True(t, ok)
	got.id.FPLine = r.id.FPLine // not recorded: matching uses device, inode and hash
	assert.Equal(t, r, got)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Len(t, b, handedSize)

	// A torn or foreign record is ignored.
	b[40] ^= 1
	require.NoError(t, os.WriteFile(path, b, 0o600))
	_, ok = loadHanded(path)
	assert.False(t, ok)
	require.NoError(t, os.WriteFile(path, []byte("hello"), 0o600))
	_, ok = loadHanded(path)
	assert.False(t, ok)
	require.NoError(t, w.remove())
	_, err = os.Stat(path)
	assert.True(t, os.IsNotExist(err))
}

func TestApplyHanded(t *testing.T) {
	chain := func() (*state, []*entry) {
		st := newState()
		es := []*entry{
			{id: newIdentity(1, 1, []byte("a\n")), stamp: "2026-11-22T02-24-24.100", size: 100, committed: 10},
			{id: newIdentity(1, 2, []byte("b\n")), stamp: "2026-11-22T02-24-24.200", size: 100},
			{id: newIdentity(1, 3, []byte("c\n")), after: "2026-11-22T02-24-24.200", size: 50},
		}
		for _, e := range es {
			st.addLocked(e)
		}
		return st, es
	}
	// The record names the second file: the first was handed to its end.
	st, es := chain()
	applied, resumed := st.applyHanded(handedRecord{id: es[1].id, off: 60, seen: 120, lastTime: "T"}, false)
	require.True(t, applied)
	assert.False(t, resumed, "without resume, reading starts at the checkpoint")
	assert.Zero(t, es[1].committed)
	assert.False(t, es[0].finished)
	assert.True(t, es[0].deliveredAll)
	assert.Equal(t, int64(60), es[1].delivered)
	assert.Equal(t, "T", es[1].deliveredTime)
	assert.Equal(t, int64(120), es[1].size)
	assert.False(t, es[2].deliveredAll)
	assert.Zero(t, es[2].delivered)

	// A file found after the checkpoint was written: all before it handed.
	st, es = chain()
	applied, _ = st.applyHanded(handedRecord{id: newIdentity(1, 4, []byte("d\n")), off: 5, key: "2026-11-22T02-24-24.300+"}, false)
	require.True(t, applied)
	for _, e := range es {
		assert.True(t, e.deliveredAll)
	}
	// A file finished and dropped before the checkpoint: nothing to apply.
	st, es = chain()
	applied, _ = st.applyHanded(handedRecord{id: newIdentity(1, 9, []byte("z\n")), off: 5, key: "2026-11-22T02-24-24.050"}, false)
	assert.False(t, applied)
	for _, e := range es {
		assert.False(t, e.deliveredAll)
	}

	// Same boot: reading resumes at the handed offset, and the file
	// before it is finished.
	st, es = chain()
	applied, resumed = st.applyHanded(handedRecord{id: es[1].id, off: 60, seen: 120, lastTime: "T"}, true)
	require.True(t, applied)
	require.True(t, resumed)
	assert.True(t, es[0].finished)
	assert.Equal(t, int64(100), es[0].committed)
	assert.Equal(t, int64(60), es[1].committed)
	assert.Equal(t, "T", es[1].lastTime)
	assert.Zero(t, es[2].committed)
	// A handed offset behind the checkpoint moves nothing back.
	st, es = chain()
	_, resumed = st.applyHanded(handedRecord{id: es[0].id, off: 5}, true)
	assert.False(t, resumed)
	assert.Equal(t, int64(10), es[0].committed)
}

// A version 1 record (before the boot id) still loads, without a boot id:
// it never resumes reading.
func TestHandedRecordVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "handed")
	r := handedRecord{id: newIdentity(7, 8, []byte("first line\n")), off: 12345, seen: 20000, lastTime: "T", key: "K", boot: "b"}
	b := r.encode(nil)
	// Rewrite it as version 1: no boot field, its own checksum.
	f := strings.Fields(string(b))
	body := strings.Join(append([]string{f[0], "1"}, f[3:11]...), " ") + " "
	v1 := fmt.Appendf(nil, "%s%x", body, crc32.ChecksumIEEE([]byte(body)))
	v1 = append(v1, bytes.Repeat([]byte(" "), handedSize-1-len(v1))...)
	require.NoError(t, os.WriteFile(path, append(v1, '\n'), 0o600))
	got, ok := loadHanded(path)
	require.True(t, ok)
	assert.Equal(t, int64(12345), got.off)
	assert.Empty(t, got.boot)
}

// A checkpoint written before the history set existed (history_through
// only) goes on treating the backups up to it as history: an upgrade does
// not read the retained backups again.
func TestLegacyCheckpointHistory(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	lines := h.history(t, [2]int{1, 2}, 100, 58)
	sink1 := &recSink{}
	r1 := h.start(sink1, func(c *Config) { c.StartAt = StartActiveFile })
	eventually(t, 10*time.Second, func() bool { return sink1.count() == 100 }, "active file")
	require.NoError(t, r1.stop(t))

	var cf map[string]any
	b, err := os.ReadFile(h.ckptPath())
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &cf))
	require.NotEmpty(t, cf["history_through"])
	delete(cf, "history")
	b, err = json.Marshal(cf)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(h.ckptPath(), b, 0o600))

	more := genLines(t, 100, 59)
	l := h.logger(false, 0)
	writeLines(t, l, more[:50])
	rotate(t, l)
	writeLines(t, l, more[50:])
	sink2 := &recSink{}
	r2 := h.start(sink2)
	eventually(t, 10*time.Second, func() bool { return sink2.count() >= 100 }, "new lines")
	settle()
	requireLines(t, more, sink2.all())
	require.NoError(t, r2.stop(t))
	cf2 := readCheckpoint(t, h)
	assert.Len(t, cf2.History, 3, "the old backups are history now, by name: %v", cf2.History)
	_ = lines
}

// Resuming never rests on an inode alone: a new active file that reuses
// the inode of the handed file (deleted while the agent was down) must not
// be taken for it, or the backups before it would be skipped unread.
func TestResumeIgnoresReusedInode(t *testing.T) {
	st := newState()
	old := &entry{id: newIdentity(1, 5, bytes.Repeat([]byte("o"), 2048)), stamp: "2026-11-22T02-24-24.100", size: 3000, committed: 3000, finished: true}
	st.addLocked(old)
	handed := handedRecord{id: newIdentity(1, 9, bytes.Repeat([]byte("f"), 2048)), off: 4000, seen: 4000, key: "2026-11-22T02-24-24.100+"}
	applied, resumed := st.applyHanded(handed, true)
	require.True(t, applied)
	require.False(t, resumed)
	require.NotNil(t, st.resumeAt, "the handed file is not in the checkpoint: the start's scan looks for it")

	b1 := &entry{id: newIdentity(1, 7, bytes.Repeat([]byte("a"), 2048)), stamp: "2026-11-22T02-24-25.000", size: 1 << 20}
	b2 := &entry{id: newIdentity(1, 8, bytes.Repeat([]byte("b"), 2048)), stamp: "2026-11-22T02-24-26.000", size: 1 << 20}
	reused := &entry{id: newIdentity(1, 9, []byte("short\n")), after: "2026-11-22T02-24-26.000", size: 6}
	for _, e := range []*entry{b1, b2, reused} {
		st.addLocked(e)
	}
	assert.Nil(t, st.resumeNewLocked([]*entry{b1, b2, reused}), "inode 9 is another file now")
	for _, e := range []*entry{b1, b2, reused} {
		assert.False(t, e.finished, "%s is read", e.stamp)
		assert.Zero(t, e.committed)
	}

	// The handed file itself, found as a backup with its content: resume.
	st = newState()
	st.addLocked(&entry{id: old.id, stamp: old.stamp, size: 3000, committed: 3000, finished: true})
	_, _ = st.applyHanded(handed, true)
	same := &entry{id: handed.id, stamp: "2026-11-22T02-24-25.000", size: 1 << 20}
	st.addLocked(same)
	require.Same(t, same, st.resumeNewLocked([]*entry{same}))
	assert.Equal(t, int64(4000), same.committed)
}
