// Package auditlog is the "auditlog" input: it tails the audit log that
// kube-apiserver writes (one JSON audit.k8s.io/v1 Event per line) and
// follows lumberjack's rotations (rename to <name>-<UTC time><ext>, create a
// new file, optionally gzip the backup, prune old backups), handing every
// line to the pipeline exactly once in normal operation and at least once
// across restarts and crashes.
//
// Files are identified by device, inode and a fingerprint of their first
// bytes, so an inode reused by another file is not mistaken for a known one
// and a backup that lumberjack gzipped (new inode, same content) is resumed
// where reading stopped. Offsets are committed to a checkpoint only after the
// sink reported the events before them durable. Which backups are history
// (read, or there before a start_at end/active_file first start) is kept as
// the set of their stamps, not a stamp cutoff, so backups stamped back in
// time by a clock step are read, in stamp order.
//
// With no checkpoint, start_at: beginning (the default) reads everything
// still on disk: every retained backup, plain or gzipped, oldest first by
// its stamp, then the active file. active_file reads the active file from
// its first byte only; end starts at its end.
//
// Backups deleted before they were read are reported (log and metrics),
// never silently skipped; see loss.go for what a report holds and how exact
// it is (known bytes, and an estimate with its range of what the active file
// held when lumberjack rotated it and of the files created and deleted while
// the input could not see them; lossmodel.go), and handed.go for how, after
// a kill -9, reading resumes after what the killed run handed to the buffers
// (not at the lagging checkpoint) and delivered bytes do not count as lost.
// Gauges say how close the input is to losing data: the unread
// bytes and age of the oldest file not read yet and, with max_backups, the
// rotations left before lumberjack deletes it.
package auditlog
