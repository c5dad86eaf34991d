package buffer

import "fmt"

// syncRecovered makes every record Open found durable. A process that was
// killed (kill -9, OOM) leaves the records it appended in the page cache,
// not fsynced yet: they are in the files and recovery keeps them, and an
// input may resume reading past them (inputs/auditlog's handed record), so
// they must survive a power loss from now on. One fsync per segment file
// that holds records (nearly free for a file without dirty pages) and one
// of the directory.
func (b *Buffer) syncRecovered() error {
	if b.opts.Fsync == FsyncNever {
		return nil
	}
	synced := false
	for _, s := range b.segs {
		if s.end == s.base {
			continue // no records: a new buffer, or a segment just started
		}
		synced = true
		s.acquire()
		f, err := s.file()
		if err == nil {
			err = f.Sync()
		}
		s.release()
		if err != nil {
			return fmt.Errorf("fsync recovered segment %s: %w", s.path, err)
		}
	}
	if !synced {
		return nil
	}
	return syncDir(b.opts.Dir)
}
