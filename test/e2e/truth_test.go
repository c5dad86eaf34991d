package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// capture keeps every file that ever appears in the audit directory by
// hard-linking it (by inode) into a snapshot directory on the same file
// system: lumberjack deletes backups past --audit-log-maxbackup, the links
// keep their bytes. The active file is linked too, so its later appends and
// its rename into a backup are kept as well. It also counts rotations (new
// lumberjack backup names) and tells a listener about each one at once.
type capture struct {
	dir, snap string
	stop      chan struct{}
	done      chan struct{}

	mu        sync.Mutex
	inodes    map[uint64]string // inode -> snapshot file
	backups   map[string]bool   // backup names without .gz
	onRotate  chan string
	linkFails int
}

func startCapture(dir, snap string) (*capture, error) {
	if err := os.MkdirAll(snap, 0o755); err != nil {
		return nil, err
	}
	c := &capture{dir: dir, snap: snap, stop: make(chan struct{}), done: make(chan struct{}),
		inodes: map[uint64]string{}, backups: map[string]bool{}, onRotate: make(chan string, 1000)}
	go c.loop()
	return c, nil
}

func (c *capture) loop() {
	defer close(c.done)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		c.scan()
		select {
		case <-c.stop:
			c.scan()
			return
		case <-t.C:
		}
	}
}

func (c *capture) scan() {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range ents {
		name := e.Name()
		if name != "audit.log" {
			b := strings.TrimSuffix(name, ".gz")
			if !c.backups[b] {
				c.backups[b] = true
				select {
				case c.onRotate <- b:
				default:
				}
			}
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		if _, seen := c.inodes[st.Ino]; seen {
			continue
		}
		dst := filepath.Join(c.snap, fmt.Sprintf("%d-%s", st.Ino, name))
		if err := os.Link(filepath.Join(c.dir, name), dst); err != nil {
			c.linkFails++ // gone between ReadDir and Link: counted, checked by the test
			continue
		}
		c.inodes[st.Ino] = dst
	}
}

func (c *capture) close() {
	close(c.stop)
	<-c.done
}

// rotations is the number of backups lumberjack has made so far.
func (c *capture) rotations() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.backups)
}

// key identifies one audit event: auditID and stage.
type key struct{ id, stage string }

var (
	reAuditID = regexp.MustCompile(`"auditID":"([^"]+)"`)
	reStage   = regexp.MustCompile(`"stage":"([^"]+)"`)
	// The same fields inside a JSON string (the dead-letter file's raw).
	reAuditIDq = regexp.MustCompile(`\\"auditID\\":\\"([^"\\]+)\\"`)
	reStageq   = regexp.MustCompile(`\\"stage\\":\\"([^"\\]+)\\"`)
)

func keyOf(line []byte) (key, bool) {
	a, s := reAuditID.FindSubmatch(line), reStage.FindSubmatch(line)
	if a == nil || s == nil {
		return key{}, false
	}
	return key{string(a[1]), string(s[1])}, true
}

// eventSet is (auditID, stage) -> line bytes (newline included), with the
// number of lines read.
type eventSet struct {
	bytes map[key]int64
	lines int
	bad   int // lines without an auditID and stage
}

func newEventSet() *eventSet { return &eventSet{bytes: map[key]int64{}} }

// addFile reads an NDJSON file, gzip or plain.
func (s *eventSet) addFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	magic, _ := r.(*bufio.Reader).Peek(2)
	if bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		s.lines++
		k, ok := keyOf(sc.Bytes())
		if !ok {
			s.bad++
			continue
		}
		s.bytes[k] = int64(len(sc.Bytes()) + 1)
	}
	if err := sc.Err(); err != nil && err != io.ErrUnexpectedEOF {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// readSnapshot is the ground truth: every event in every file kept.
func readSnapshot(dir string) (*eventSet, error) {
	s := newEventSet()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		if err := s.addFile(f); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// readOutput reads the file output's NDJSON (its backups included).
func readOutput(dir string) (*eventSet, error) {
	s := newEventSet()
	files, err := filepath.Glob(filepath.Join(dir, "audit*.ndjson*"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := s.addFile(f); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// readDeadLetters returns the events of the dead-letter file, with their
// reasons. A record keeps the event, or a prefix of it in "raw".
func readDeadLetters(path string) (map[key]string, error) {
	out := map[key]string{}
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var rec struct {
			Reason string          `json:"reason"`
			Event  json.RawMessage `json:"event"`
			Raw    string          `json:"raw"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			return nil, fmt.Errorf("dead-letter record: %w", err)
		}
		src := []byte(rec.Raw)
		if len(rec.Event) > 0 {
			src = rec.Event
		}
		k, ok := keyOf(src)
		if !ok {
			a, s := reAuditIDq.FindSubmatch(line), reStageq.FindSubmatch(line)
			if a == nil || s == nil {
				return nil, fmt.Errorf("dead-letter record without auditID/stage: %.200s", line)
			}
			k = key{string(a[1]), string(s[1])}
		}
		out[k] = rec.Reason
	}
	return out, nil
}
