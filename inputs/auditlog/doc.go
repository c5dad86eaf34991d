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
// sink reported the events before them durable. Backups deleted before they
// were read are reported (log and metrics), never silently skipped.
//
// With no checkpoint, start_at: beginning reads the active file from its
// first byte; backups that exist before the first start are history and are
// not read. start_at: end starts at the active file's end.
package auditlog
