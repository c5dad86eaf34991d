package bench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/event/auditfields"
)

// CorpusDir is the real corpus, relative to the repository root.
const CorpusDir = "testdata/corpus-run1"

// template is one corpus event cut around its auditID and stageTimestamp
// values: head + auditID + mid + stageTimestamp + tail.
type template struct {
	head, mid, tail []byte
}

// loadCorpus reads every event of the corpus in chronological order (the
// backups lumberjack pruned, the kept backups, then audit.log). All lines
// are kept, including the five of 200-643 KB: they are part of what a real
// apiserver writes.
func loadCorpus(dir string) ([]template, error) {
	var files []string
	for _, pat := range []string{"pruned-by-maxbackup/audit-*.log", "audit-*.log"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, fmt.Errorf("list corpus %s: %w", dir, err)
		}
		sort.Strings(m)
		files = append(files, m...)
	}
	files = append(files, filepath.Join(dir, "audit.log"))
	var out []template
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read corpus: %w", err)
		}
		for i, line := range bytes.Split(data, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			t, err := cut(line)
			if err != nil {
				return nil, fmt.Errorf("corpus %s line %d: %w", f, i+1, err)
			}
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("corpus %s holds no events", dir)
	}
	return out, nil
}

var (
	auditIDKey = []byte(`"auditID":"`)
	stageTSKey = []byte(`"stageTimestamp":"`)
)

// cut splits a corpus line around its top-level auditID and stageTimestamp
// values, checked against auditfields.Extract.
func cut(line []byte) (template, error) {
	var m event.Meta
	if err := auditfields.Extract(line, &m); err != nil {
		return template{}, err
	}
	// auditID comes fourth at the top level, before any nested object;
	// stageTimestamp comes after every object but annotations.
	a := bytes.Index(line, auditIDKey)
	s := bytes.LastIndex(line, stageTSKey)
	if a < 0 || s < a {
		return template{}, fmt.Errorf("no auditID or stageTimestamp")
	}
	a += len(auditIDKey)
	aEnd := a + bytes.IndexByte(line[a:], '"')
	s += len(stageTSKey)
	sEnd := s + bytes.IndexByte(line[s:], '"')
	if !bytes.Equal(line[a:aEnd], m.AuditID) || !bytes.Equal(line[s:sEnd], m.StageTimestamp) {
		return template{}, fmt.Errorf("auditID or stageTimestamp not where expected")
	}
	return template{head: line[:a], mid: line[aEnd:s], tail: line[sEnd:]}, nil
}

// real replays the corpus with fresh auditIDs.
type real struct {
	corpus []template
	i      int
	ids    *ids
}

func newReal(seed uint64, corpusDir string) (*real, error) {
	c, err := loadCorpus(corpusDir)
	if err != nil {
		return nil, err
	}
	return &real{corpus: c, ids: newIDs(seed)}, nil
}

// next implements generator.
func (r *real) next(dst []byte) ([]byte, int, error) {
	t := &r.corpus[r.i]
	r.i = (r.i + 1) % len(r.corpus)
	base := len(dst)
	dst = append(dst, t.head...)
	dst = r.ids.appendNext(dst)
	dst = append(dst, t.mid...)
	ts := len(dst) - base
	dst = append(dst, tsPlaceholder...)
	return append(dst, t.tail...), ts, nil
}

// Sizes of the big events of MixBigLines, whole lines without the newline.
const (
	bigLine1   = 1 << 20
	bigLine2   = 39 * (1 << 20) / 10 // 3.9 MiB, under max_line_bytes (4 MiB)
	bigLineGap = 32 << 20
)

// bigLines is real plus a 1 MiB and a 3.9 MiB event every 32 MiB, the
// first pair after 16 MiB.
type bigLines struct {
	*real
	rng   *rand.Rand
	bytes int64 // written since the last pair
	queue []int // big events still to write, by size
}

func newBigLines(r *real, seed uint64) *bigLines {
	return &bigLines{real: r, rng: rand.New(rand.NewPCG(seed, 0xbb67ae8584caa73b)), bytes: bigLineGap / 2}
}

// next implements generator.
func (b *bigLines) next(dst []byte) ([]byte, int, error) {
	if len(b.queue) == 0 && b.bytes >= bigLineGap {
		b.queue = []int{bigLine1, bigLine2}
		b.bytes = 0
	}
	if len(b.queue) > 0 {
		size := b.queue[0]
		b.queue = b.queue[1:]
		return b.big(dst, size)
	}
	out, ts, err := b.real.next(dst)
	b.bytes += int64(len(out) - len(dst) + 1)
	return out, ts, err
}

// big appends a ConfigMap create (level Request) whose data value pads the
// line to exactly size bytes.
func (b *bigLines) big(dst []byte, size int) ([]byte, int, error) {
	base := len(dst)
	dst = append(dst, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"`...)
	dst = b.ids.appendNext(dst)
	dst = append(dst, `","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/team-a/configmaps?fieldManager=kubectl-client-side-apply\u0026fieldValidation=Strict","verb":"create","user":{"username":"alice","uid":"uid-alice","groups":["dev-team","system:authenticated"]},"sourceIPs":["127.0.0.1"],"userAgent":"kubectl/v1.34.1 (linux/amd64) kubernetes/93d9dc5","objectRef":{"resource":"configmaps","namespace":"team-a","name":"bundle","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestObject":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"bundle","namespace":"team-a","creationTimestamp":null},"data":{"bundle.b64":"`...)
	tail := `"}},"requestReceivedTimestamp":"2026-11-22T00:00:00.000000Z","stageTimestamp":"` + tsPlaceholder + `","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by RoleBinding \"alice-dev/team-a\" of Role \"developer\" to User \"alice\""}}`
	pad := size - (len(dst) - base) - len(tail)
	if pad < 0 {
		return nil, 0, fmt.Errorf("big event of %d bytes is too small", size)
	}
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for range pad / 8 {
		v := b.rng.Uint64()
		for range 8 {
			dst = append(dst, b64[v&63])
			v >>= 8
		}
	}
	for range pad % 8 {
		dst = append(dst, 'A')
	}
	ts := len(dst) - base + strings.Index(tail, `"stageTimestamp":"`) + len(`"stageTimestamp":"`)
	dst = append(dst, tail...)
	return dst, ts, nil
}
