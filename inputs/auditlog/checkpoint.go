package auditlog

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

const checkpointVersion = 1

// checkpointFile is the on-disk form of the input's state
// (<state_dir>/inputs/<name>/checkpoint.json).
type checkpointFile struct {
	Version int `json:"version"`
	// Path is the active file the checkpoint was written for.
	Path string `json:"path"`
	// HistoryThrough: backups stamped up to this (inclusive) that are not in
	// Files were read before, or existed before the first start.
	HistoryThrough string `json:"history_through"`
	// History lists the stamps of the backups in the directory that were
	// read or were there before the first start (absent in checkpoints of
	// older agents: HistoryThrough applies then).
	History []string `json:"history"`
	// Files in chain order, oldest first.
	Files []checkpointEntry `json:"files"`
}

type checkpointEntry struct {
	// Path where the file was last seen.
	Path  string `json:"path"`
	Dev   uint64 `json:"dev"`
	Inode uint64 `json:"inode"`
	// Fingerprint is the hex SHA-256 of the first FingerprintBytes bytes of
	// the uncompressed content; FingerprintHasLine says they hold a whole line.
	Fingerprint        string `json:"fingerprint"`
	FingerprintBytes   int    `json:"fingerprint_bytes"`
	FingerprintHasLine bool   `json:"fingerprint_has_line"`
	// BackupTime is the lumberjack stamp once seen as a backup.
	BackupTime string `json:"backup_time,omitempty"`
	// NewerThan is the newest backup stamp when the file was first seen as
	// the active file.
	NewerThan string `json:"newer_than"`
	// Size is the uncompressed size at last sight (-1: unknown).
	Size int64 `json:"size"`
	// Offset is the committed offset in the uncompressed content: every line
	// before it is durable in the pipeline (or was dead-lettered).
	Offset int64 `json:"offset"`
	// Finished: read to its end after rotation, end committed.
	Finished bool `json:"finished"`
	// FirstEventTime and LastEventTime are the stageTimestamps of its first
	// event and of the last committed one, for loss reports.
	FirstEventTime string `json:"first_event_time,omitempty"`
	LastEventTime  string `json:"last_event_time,omitempty"`
	// Delivered: a run that was killed had handed the events up to this
	// offset to the pipeline (DeliveredAll: all of it); DeliveredTime is
	// the last one's stageTimestamp. Only loss accounting uses them.
	Delivered     int64  `json:"delivered,omitempty"`
	DeliveredTime string `json:"delivered_time,omitempty"`
	DeliveredAll  bool   `json:"delivered_all,omitempty"`
}

// snapshotLocked renders the state for the checkpoint.
func (s *state) snapshotLocked(active string) *checkpointFile {
	cf := &checkpointFile{Version: checkpointVersion, Path: active, HistoryThrough: s.cutoff, Files: make([]checkpointEntry, 0, len(s.chain))}
	for _, e := range s.chain {
		cf.Files = append(cf.Files, checkpointEntry{
			Path: e.path, Dev: e.id.Dev, Inode: e.id.Ino,
			Fingerprint: hex.EncodeToString(e.id.FP[:]), FingerprintBytes: e.id.FPLen, FingerprintHasLine: e.id.FPLine,
			BackupTime: e.stamp, NewerThan: e.after, Size: e.size, Offset: e.committed, Finished: e.finished,
			FirstEventTime: e.firstTime, LastEventTime: e.lastTime,
			Delivered: e.delivered, DeliveredTime: e.deliveredTime, DeliveredAll: e.deliveredAll,
		})
	}
	if s.history != nil {
		cf.History = make([]string, 0, len(s.history))
		for k := range s.history {
			cf.History = append(cf.History, k)
		}
		sort.Strings(cf.History)
	}
	return cf
}

// errCorrupt wraps every reason a checkpoint cannot be used.
func corrupt(path string, err error) error {
	return fmt.Errorf("checkpoint %s is unusable (%w); stop the agent and delete that file to start over (start_at then applies: with beginning, everything still on disk is read again)", path, err)
}

// loadCheckpoint reads the checkpoint; ok is false when there is none.
func loadCheckpoint(path, active string) (st *state, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newState(), false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read checkpoint %s: %w", path, err)
	}
	var cf checkpointFile
	if err := json.Unmarshal(b, &cf); err != nil {
		return nil, false, corrupt(path, fmt.Errorf("invalid JSON: %w", err))
	}
	if cf.Version != checkpointVersion {
		return nil, false, corrupt(path, fmt.Errorf("version %d, this agent reads version %d", cf.Version, checkpointVersion))
	}
	if cf.Path != active {
		return nil, false, corrupt(path, fmt.Errorf("it was written for %s, the input now reads %s", cf.Path, active))
	}
	if err := checkStamp(cf.HistoryThrough); err != nil {
		return nil, false, corrupt(path, fmt.Errorf("history_through: %w", err))
	}
	st = newState()
	st.cutoff = cf.HistoryThrough
	if cf.History != nil {
		st.history = make(map[string]bool, len(cf.History))
		for _, h := range cf.History {
			if err := checkStamp(h); err != nil {
				return nil, false, corrupt(path, fmt.Errorf("history: %w", err))
			}
			st.history[h] = true
		}
	}
	past := make(map[string]bool, len(cf.History)+len(cf.Files))
	for _, h := range cf.History {
		past[h] = true
	}
	for i, f := range cf.Files {
		e, err := f.entry()
		if err != nil {
			return nil, false, corrupt(path, fmt.Errorf("files[%d]: %w", i, err))
		}
		st.addLocked(e)
		if e.stamp != "" {
			past[e.stamp] = true
		}
	}
	for s := range past {
		st.pastStamps = append(st.pastStamps, s)
	}
	sort.Strings(st.pastStamps)
	return st, true, nil
}

func checkStamp(s string) error {
	if s == "" {
		return nil
	}
	if _, err := time.Parse(backupLayout, s); err != nil || len(s) != len(backupLayout) {
		return fmt.Errorf("%q is not a backup time stamp", s)
	}
	return nil
}

func (f checkpointEntry) entry() (*entry, error) {
	fp, err := hex.DecodeString(f.Fingerprint)
	if err != nil || len(fp) != len(identity{}.FP) {
		return nil, fmt.Errorf("fingerprint %q is not a hex SHA-256", f.Fingerprint)
	}
	if f.FingerprintBytes < 0 || f.FingerprintBytes > fpMax {
		return nil, fmt.Errorf("fingerprint_bytes %d is out of range", f.FingerprintBytes)
	}
	if f.Offset < 0 || f.Path == "" {
		return nil, fmt.Errorf("offset %d / path %q invalid", f.Offset, f.Path)
	}
	if err := checkStamp(f.BackupTime); err != nil {
		return nil, fmt.Errorf("backup_time: %w", err)
	}
	if err := checkStamp(f.NewerThan); err != nil {
		return nil, fmt.Errorf("newer_than: %w", err)
	}
	e := &entry{
		id:   identity{Dev: f.Dev, Ino: f.Inode, FPLen: f.FingerprintBytes, FPLine: f.FingerprintHasLine},
		path: f.Path, stamp: f.BackupTime, after: f.NewerThan, size: f.Size, committed: f.Offset, finished: f.Finished,
		firstTime: f.FirstEventTime, lastTime: f.LastEventTime,
		delivered: f.Delivered, deliveredTime: f.DeliveredTime, deliveredAll: f.DeliveredAll,
	}
	copy(e.id.FP[:], fp)
	e.readDone = f.Finished
	return e, nil
}

// saveCheckpoint writes cf atomically: temp file, fsync, rename, fsync dir.
func saveCheckpoint(path string, cf *checkpointFile) error {
	b, err := json.MarshalIndent(cf, "", "  ")
	if err != nil {
		return fmt.Errorf("encode checkpoint %s: %w", path, err)
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create checkpoint directory %s: %w", dir, err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create checkpoint %s: %w", tmp, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write checkpoint %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync checkpoint %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close checkpoint %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename checkpoint %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open checkpoint directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync checkpoint directory %s: %w", dir, err)
	}
	return nil
}

// checkpointer persists the state in the background, at most once per
// interval, whenever it changed.
type checkpointer struct {
	path, active string
	st           *state
	every        time.Duration
	mu           sync.Mutex // one save at a time
	written      uint64     // version last written
	// dlq is synced before a checkpoint that may pass lines the input
	// dead-lettered since the last save (dlqDirty) is written.
	dlq      interface{ Sync() error }
	dlqDirty *atomic.Bool
}

// save writes the current state if it changed since the last save.
func (c *checkpointer) save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.mu.Lock()
	v := c.st.version
	if v == c.written {
		c.st.mu.Unlock()
		return nil
	}
	cf := c.st.snapshotLocked(c.active)
	c.st.mu.Unlock()
	if c.dlqDirty != nil && c.dlqDirty.Swap(false) {
		if err := c.dlq.Sync(); err != nil {
			c.dlqDirty.Store(true)
			return fmt.Errorf("sync the dead-letter file before committing past its lines: %w", err)
		}
	}
	if err := saveCheckpoint(c.path, cf); err != nil {
		return err
	}
	c.written = v
	return nil
}

// run saves on every change, coalescing changes that come faster than
// c.every (at once for a change of the chain's structure), until stop is
// closed. It returns the first write error.
func (c *checkpointer) run(stop <-chan struct{}) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-c.st.dirty:
		}
		select {
		case <-c.st.urgent:
		default:
		}
		if err := c.save(); err != nil {
			return err
		}
		t.Reset(c.every)
		select {
		case <-stop:
			return nil
		case <-t.C:
		case <-c.st.urgent:
			t.Stop()
		}
	}
}
