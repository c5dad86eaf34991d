package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/gzip"
)

// fpMax is how many leading bytes of a file's (uncompressed) content its
// fingerprint covers at most. The first line of an audit log holds a unique
// auditID, well within these bytes.
const fpMax = 1024

// identity tells files apart across renames, compression and inode reuse:
// device and inode of the plain file, plus a hash of its first FPLen bytes.
// A file shorter than fpMax has its fingerprint extended as it grows; the old
// fingerprint is then a prefix of the new one.
type identity struct {
	Dev, Ino uint64
	FPLen    int
	FP       [sha256.Size]byte
	// FPLine is set when the hashed bytes hold a whole line (the unique
	// auditID): the fingerprint then identifies the content on its own, even
	// under another inode (a .gz of the file).
	FPLine bool
}

// strong reports whether the fingerprint identifies the content by itself.
func (id identity) strong() bool { return id.FPLen >= fpMax || id.FPLine }

func (id identity) String() string {
	return fmt.Sprintf("dev=%d inode=%d fingerprint=%s/%d", id.Dev, id.Ino, hex.EncodeToString(id.FP[:6]), id.FPLen)
}

// newIdentity fingerprints prefix (the first bytes of a file, at most fpMax).
func newIdentity(dev, ino uint64, prefix []byte) identity {
	if len(prefix) > fpMax {
		prefix = prefix[:fpMax]
	}
	return identity{
		Dev: dev, Ino: ino,
		FPLen:  len(prefix),
		FP:     sha256.Sum256(prefix),
		FPLine: bytes.IndexByte(prefix, '\n') >= 0,
	}
}

// matchResult is what comparing a known file with a file on disk gives.
type matchResult int

const (
	noMatch matchResult = iota
	isMatch
	// undetermined: a .gz still being written has not yet produced enough
	// bytes to tell.
	undetermined
)

// match compares id with candidate c.
//   - A plain file with the same device and inode is the same file when its
//     first id.FPLen bytes still hash to id.FP (otherwise the inode was reused
//     or the file was rewritten).
//   - Any other file (a .gz, or a plain file with another inode) is the same
//     file only when id is strong and the content prefix matches.
func (id identity) match(c *candidate) matchResult {
	sameInode := !c.gz && id.Dev == c.dev && id.Ino == c.ino && (id.Dev != 0 || id.Ino != 0)
	if !sameInode && !id.strong() {
		return noMatch
	}
	if len(c.prefix) < id.FPLen {
		if c.gz && !c.complete {
			return undetermined
		}
		return noMatch
	}
	if sha256.Sum256(c.prefix[:id.FPLen]) != id.FP {
		return noMatch
	}
	return isMatch
}

// extend returns id fingerprinted over the longer prefix, which must begin
// with the bytes id was computed over (the caller checked with match).
func (id identity) extend(prefix []byte) identity {
	if len(prefix) <= id.FPLen {
		return id
	}
	return newIdentity(id.Dev, id.Ino, prefix)
}

// readPrefix reads up to fpMax bytes from the start of a plain file.
func readPrefix(f *os.File, buf []byte) ([]byte, error) {
	n, err := f.ReadAt(buf[:fpMax], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read first bytes of %s: %w", f.Name(), err)
	}
	return buf[:n], nil
}

// gzipPrefix decompresses up to fpMax bytes from the start of a .gz file.
// complete is set when the whole stream (trailer and checksum included) was
// read within those bytes; a stream cut short (still being written) yields
// what could be decompressed and complete=false. err reports a corrupt
// stream or an I/O error.
func gzipPrefix(f *os.File) (prefix []byte, complete bool, err error) {
	zr, err := gzip.NewReader(io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, false, nil // header not written yet
		}
		return nil, false, fmt.Errorf("gzip header of %s: %w", f.Name(), err)
	}
	zr.Multistream(false)
	buf := make([]byte, fpMax)
	n := 0
	for n < fpMax {
		m, err := zr.Read(buf[n:])
		n += m
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) {
			return buf[:n], true, nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return buf[:n], false, nil
		}
		return buf[:n], false, fmt.Errorf("decompress %s: %w", f.Name(), err)
	}
	return buf[:n], false, nil
}
