// Package buffer owns a pipeline's disk buffer: the write-ahead log between
// the inputs and the outputs. Appended records are opaque byte payloads kept
// in segment files; each output reads them in order through its own Cursor
// and commits what its sink acknowledged. A segment's file is reused or
// deleted only when every cursor has committed past it, and a restart
// resumes every cursor at its committed position (at-least-once delivery).
//
// # Positions
//
// A Position is a logical byte offset across the whole log: the first record
// ever written starts at 0 and every record takes its header (12 bytes; 8 in
// version 1 segments) plus len(payload) positions. Segment header bytes take
// no positions, so a segment's base offset, which names its file, is the
// position of its first record.
//
// # Record lifetime
//
// Next returns views into the cursor's read buffer, not copies: a read
// chunk (1 MiB, larger only for a larger record) is filled with one pread
// and its records are handed out in place. A record's Data stays valid and
// unchanged until the cursor is committed at or past the record's End
// (Commit(pos) with pos >= End, by whoever commits); Next never overwrites
// or reuses a chunk holding a record handed out and not committed yet, and
// Rewind does not release anything (so a reader that rewinds again and
// again without committing holds every chunk it read). After that commit
// the bytes may change at any time (the chunk is reused), so a caller
// copies what it keeps longer. The delivery loop holds at most
// max_in_flight+1 batches between the committed and the read position,
// which bounds the chunks in use; outputs get the events only until their
// Write returns (event.Output); nothing after the buffer changes an
// event's bytes (processors run before it, and change events only through
// Event.SetRaw, which allocates). Tests poison released chunks
// (poisonReleased: on in every test binary), so a view used after its
// commit reads garbage instead of the next records.
//
// # On-disk format
//
// The directory holds:
//   - LOCK: flock'ed while a Buffer has the directory open;
//   - <base, 20 digits>.seg: segments, little endian, CRC32C (Castagnoli).
//     Version 2 (written since recycled segments): a 40-byte header (magic
//     "KTRLWAL\x00", u32 version 2, u32 CRC of the other header bytes, u64
//     base offset, u64 base sequence number = the count of records written
//     before the segment, u32 epoch, u32 flags: 1 = recycled file), then
//     records: u32 length | u32 epoch | u32 CRC(length, epoch, payload) |
//     payload. Every record carries its segment's epoch, and a record is
//     valid only with a matching CRC and the segment's epoch. Version 1 (a
//     32-byte header without epoch and flags; records u32 length | u32
//     CRC(payload) | payload) is still read: an agent upgraded over an old
//     buffer delivers its records, writes new ones to a version 2 segment
//     and deletes the old files once every output is past them; an older
//     agent refuses version 2 with "unsupported segment version 2". Empty
//     payloads are not allowed, so zero-filled blocks never parse as
//     records;
//   - <base, 20 digits>.free: spare segment files (at most 2), kept when
//     every cursor was past a segment and reused for the next segment
//     instead of creating a file: overwriting pages the page cache holds
//     costs the kernel far less than writing fresh ones and freeing the old
//     ones. A reused file keeps its length: past its new records lie stale
//     records of earlier epochs, which never validate. Epochs grow by one
//     per segment started, from the highest epoch found in any header at
//     Open, so a new epoch matches no record in any file. Spare files
//     count against MaxBytes and are deleted first when an append needs
//     room. Reuse writes (and fsyncs, unless the policy is never) the new
//     header before renaming the spare to its segment name, so a crash
//     leaves a spare or a segment whose records are all stale;
//   - cursor-<escaped name>.pos: one per cursor, with its own checksum;
//     created atomically (temporary file + rename), then overwritten in
//     place by one small pwrite per commit.
//
// # Durability
//
// Cursors read records as soon as they are written, before they are
// durable: the fsync policy delays only the onDurable callbacks, on which
// the inputs commit their own positions. Sealed segments are fsynced when
// sealed, new segment files and the directory when created (unless the
// policy is never). A power loss can therefore lose a tail that a cursor
// already committed; Open moves such a cursor back to the new end, and the
// input re-sends the lost records (duplicates, never a loss). A crash of the
// process (kill -9) loses nothing that Append wrote.
//
// # Recovery
//
// Open reads the header of every segment and scans only the last (active)
// one. It is cut after its last record: a torn tail, or in a recycled file
// the stale records of earlier epochs. Recovery stops at the first record of
// a previous epoch even when records of the current one follow (pages
// written back out of order before a power loss): those were never
// fsynced, so their onDurable never fired and the input sends them again. A
// corrupt region followed by records of the current epoch is skipped.
// Sealed segments are not read at Open: their record counts come from the
// base sequence numbers in the headers of the segments that follow them,
// and a sealed segment ends where the next one begins (a recycled file is
// longer than its records). Cursors verify every record
// they read, so corruption in a sealed segment is found, logged, counted and
// skipped at read time. Skipping means scanning forward, byte by byte, to
// the next offset holding a record whose length fits and whose CRC matches;
// valid records after a corrupt one are never lost. A corrupt region is
// counted once per process as one corrupt record, whatever its length.
//
// A file that is not a segment (bad magic, unsupported version, header
// checksum or name mismatch) or a corrupt cursor file makes Open fail with an
// error naming the file to delete.
package buffer
