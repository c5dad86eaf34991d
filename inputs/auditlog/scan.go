package auditlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// backupLayout is lumberjack's backup time stamp (always UTC for
// kube-apiserver). Stamps of one layout sort lexically in time order.
const backupLayout = "2006-01-02T15-04-05.000"

const gzSuffix = ".gz"

// namer knows the names lumberjack gives the active file's backups:
// <dir>/<base without ext>-<stamp><ext>[.gz].
type namer struct {
	active string // absolute path of the active file
	dir    string
	prefix string // "audit-"
	ext    string // ".log", or "" when the active file has none
}

func newNamer(active string) namer {
	base := filepath.Base(active)
	ext := filepath.Ext(base)
	return namer{active: active, dir: filepath.Dir(active), prefix: base[:len(base)-len(ext)] + "-", ext: ext}
}

// parse returns the stamp of a backup name, whether it is gzipped, and
// whether name is a backup of the active file at all.
func (n namer) parse(name string) (stamp string, gz, ok bool) {
	if !strings.HasPrefix(name, n.prefix) {
		return "", false, false
	}
	rest := name[len(n.prefix):]
	if strings.HasSuffix(rest, gzSuffix) {
		rest, gz = rest[:len(rest)-len(gzSuffix)], true
	}
	if !strings.HasSuffix(rest, n.ext) {
		return "", false, false
	}
	stamp = rest[:len(rest)-len(n.ext)]
	if len(stamp) != len(backupLayout) {
		return "", false, false
	}
	if _, err := time.Parse(backupLayout, stamp); err != nil {
		return "", false, false
	}
	return stamp, gz, true
}

// candidate is one file found on disk that may belong to the log's chain.
type candidate struct {
	path     string
	stamp    string // backup stamp; "" for the active file
	gz       bool
	dev, ino uint64
	size     int64 // bytes on disk (compressed for a .gz)
	mtime    time.Time
	prefix   []byte // first bytes of the uncompressed content, at most fpMax
	// complete: for a .gz, the stream ended (trailer verified) within prefix;
	// always true for a plain file, whose prefix is what it holds now.
	complete bool
	// usize is the uncompressed size: size for a plain file, the gzip
	// trailer's ISIZE for a .gz (an estimate until the stream is read), -1
	// when unknown.
	usize int64
	// gzErr is set when the .gz could not be decompressed (corrupt).
	gzErr error
}

// pending reports a .gz still being written that is too short to identify.
func (c *candidate) pending() bool {
	return c.gz && !c.complete && c.gzErr == nil && len(c.prefix) < fpMax
}

// group is the files of one backup stamp: the plain backup, its .gz, or
// both while lumberjack compresses.
type group struct {
	stamp     string
	plain, gz *candidate
}

// best is the file to read for a group: the plain one while it exists.
func (g *group) best() *candidate {
	if g.plain != nil {
		return g.plain
	}
	return g.gz
}

// listing is one scan of the directory.
type listing struct {
	active *candidate      // nil when the active file does not exist
	groups []*group        // backups the scan did not skip, oldest first
	newest string          // newest backup stamp in the directory, skipped or not
	stamps map[string]bool // every backup stamp in the directory
	// stable is false when the directory changed while it was being listed
	// (a file vanished between listing and stat): the caller lists again
	// before concluding that anything is missing.
	stable bool
}

// all returns every candidate of the listing.
func (l *listing) all() []*candidate {
	var cs []*candidate
	if l.active != nil {
		cs = append(cs, l.active)
	}
	for _, g := range l.groups {
		if g.plain != nil {
			cs = append(cs, g.plain)
		}
		if g.gz != nil {
			cs = append(cs, g.gz)
		}
	}
	return cs
}

// gzKey identifies an unchanged .gz for the prefix cache.
type gzKey struct {
	path     string
	dev, ino uint64
	size     int64
	mtime    time.Time
}

type gzInfo struct {
	prefix   []byte
	complete bool
	usize    int64
	err      error
}

// scanner lists the directory and fingerprints the files that matter. Only
// the reading goroutine uses it.
type scanner struct {
	names  namer
	buf    []byte
	gzSeen map[gzKey]gzInfo
	// betweenLooks, in tests, runs between the look at the active file and
	// the directory listing.
	betweenLooks func()
}

func newScanner(n namer) *scanner {
	return &scanner{names: n, buf: make([]byte, fpMax), gzSeen: make(map[gzKey]gzInfo)}
}

// errNoDir reports that the directory does not exist (yet).
var errNoDir = errors.New("directory does not exist")

// list scans the directory. Backups for which skip is true are history and
// are neither stat'ed nor fingerprinted. The active file is looked at first,
// so that a backup newer than it cannot be in the same listing unless it is
// the active file itself renamed meanwhile.
func (s *scanner) list(skip func(stamp string) bool) (*listing, error) {
	l := &listing{stable: true, stamps: make(map[string]bool)}
	act, err := s.look(s.names.active, "", false)
	switch {
	case err == nil:
		l.active = act
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, err
	}
	if s.betweenLooks != nil {
		s.betweenLooks()
	}
	des, err := os.ReadDir(s.names.dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errNoDir
		}
		return nil, fmt.Errorf("list directory %s: %w", s.names.dir, err)
	}
	byStamp := make(map[string]*group)
	seen := make(map[gzKey]bool)
	for _, de := range des {
		stamp, gz, ok := s.names.parse(de.Name())
		if !ok || !de.Type().IsRegular() && de.Type()&fs.ModeSymlink == 0 {
			continue
		}
		if stamp > l.newest {
			l.newest = stamp
		}
		l.stamps[stamp] = true
		if skip != nil && skip(stamp) {
			continue
		}
		c, err := s.look(filepath.Join(s.names.dir, de.Name()), stamp, gz)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				l.stable = false
				continue
			}
			return nil, err
		}
		if gz {
			seen[gzKey{c.path, c.dev, c.ino, c.size, c.mtime}] = true
		}
		g := byStamp[stamp]
		if g == nil {
			g = &group{stamp: stamp}
			byStamp[stamp] = g
			l.groups = append(l.groups, g)
		}
		if gz {
			g.gz = c
		} else {
			g.plain = c
		}
	}
	for k := range s.gzSeen {
		if !seen[k] {
			delete(s.gzSeen, k)
		}
	}
	sort.Slice(l.groups, func(i, j int) bool { return l.groups[i].stamp < l.groups[j].stamp })
	if a := l.active; a != nil {
		for _, g := range l.groups {
			if g.plain != nil && g.plain.dev == a.dev && g.plain.ino == a.ino {
				// Renamed between the two looks: it is a backup now, and the
				// new active file will show up in the next scan.
				l.active, l.stable = nil, false
				break
			}
		}
	}
	if a := l.active; a != nil {
		// Renamed, and even gzipped with the plain backup removed, since
		// the first look: the listing holds its .gz, which would be taken
		// for a new file while the active file is matched by its inode.
		// (A new active file may reuse the freed inode: it is smaller.)
		fi, err := os.Stat(s.names.active)
		same := false
		if err == nil {
			dev, ino := devIno(fi)
			same = dev == a.dev && ino == a.ino && fi.Size() >= a.size
		}
		if !same {
			l.active, l.stable = nil, false
		}
	}
	return l, nil
}

// look stats and fingerprints one file.
func (s *scanner) look(path, stamp string, gz bool) (*candidate, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	c := &candidate{path: path, stamp: stamp, gz: gz, size: fi.Size(), mtime: fi.ModTime(), usize: -1}
	c.dev, c.ino = devIno(fi)
	if !gz {
		p, err := readPrefix(f, s.buf)
		if err != nil {
			return nil, err
		}
		c.prefix = append([]byte(nil), p...)
		c.complete, c.usize = true, c.size
		return c, nil
	}
	k := gzKey{path, c.dev, c.ino, c.size, c.mtime}
	info, ok := s.gzSeen[k]
	if !ok {
		info.prefix, info.complete, info.err = gzipPrefix(f)
		info.usize = -1
		if info.complete {
			info.usize = int64(len(info.prefix))
		} else if c.size >= 18 {
			var tr [4]byte
			if _, err := f.ReadAt(tr[:], c.size-4); err == nil || errors.Is(err, io.EOF) {
				info.usize = int64(binary.LittleEndian.Uint32(tr[:]))
			}
		}
		s.gzSeen[k] = info
	}
	c.prefix, c.complete, c.usize, c.gzErr = info.prefix, info.complete, info.usize, info.err
	return c, nil
}
