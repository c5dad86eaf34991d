// Package buffer owns a pipeline's disk buffer: the write-ahead log between
// the inputs and the outputs. Appended records are opaque byte payloads kept
// in segment files; each output reads them in order through its own Cursor
// and commits what its sink acknowledged. A segment is deleted only when
// every cursor has committed past it, and a restart resumes every cursor at
// its committed position (at-least-once delivery).
//
// # Positions
//
// A Position is a logical byte offset across the whole log: the first record
// ever written starts at 0 and every record takes 8+len(payload) positions.
// Segment header bytes take no positions, so a segment's base offset, which
// names its file, is the position of its first record.
//
// # On-disk format
//
// The directory holds:
//   - LOCK: flock'ed while a Buffer has the directory open;
//   - <base, 20 digits>.seg: segments. A 32-byte header (magic "KTRLWAL\x00",
//     u32 version, u32 CRC32C of the other header bytes, u64 base offset,
//     u64 base sequence number = the count of records written before the
//     segment), then records: u32 length | u32 CRC32C(payload) | payload,
//     little endian, Castagnoli polynomial. Empty payloads are not allowed,
//     so zero-filled blocks never parse as records;
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
// one: a torn or corrupt tail is truncated to the last good record; a
// corrupt record followed by valid ones is skipped. Sealed segments are not
// read at Open: their record counts come from the base sequence numbers in
// the headers of the segments that follow them. Cursors verify every record
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
