package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Mix names a workload mix.
type Mix string

// The workload mixes.
const (
	// MixHeavy is synthetic: 85% Metadata events (~1 KB), 13% with
	// request/response objects (3-30 KB), 2% list responses (100-500 KB)
	// carrying about two thirds of the bytes. Mean ~7.3 KB per event.
	MixHeavy Mix = "heavy"
	// MixReal replays the real corpus (testdata/corpus-run1, 6,791 events,
	// every line kept) over and over with fresh auditIDs. Mean ~1.4 KB.
	MixReal Mix = "real"
	// MixBigLines is MixReal with one event carrying a 1 MiB object and one
	// carrying a 3.9 MiB object every 32 MiB, the first pair after 16 MiB
	// (max_line_bytes is 4 MiB).
	MixBigLines Mix = "biglines"
)

// Mixes lists every mix.
var Mixes = []Mix{MixHeavy, MixReal, MixBigLines}

// DefaultSeed is the seed of every workload unless told otherwise.
const DefaultSeed uint64 = 20261122

// genVersion changes whenever a generator's output changes, so that stale
// caches are regenerated.
const genVersion = 2

// tsLayout is how kube-apiserver writes stageTimestamp (metav1.MicroTime in
// UTC): always 27 bytes.
const tsLayout = "2006-01-02T15:04:05.000000Z07:00"

// tsLen is the length of a stageTimestamp value.
const tsLen = len("2026-11-22T00:00:00.000000Z")

// tsPlaceholder fills stageTimestamp until the replay writes the event.
const tsPlaceholder = "2026-11-22T00:00:00.000000Z"

// appendTimestamp appends t as a stageTimestamp (27 bytes).
func appendTimestamp(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, tsLayout)
}

// generator produces the events of one workload, one at a time.
type generator interface {
	// next appends one event's JSON (no newline) to dst and returns it with
	// the offset of its stageTimestamp value (tsLen bytes) in the event.
	next(dst []byte) ([]byte, int, error)
}

// newGenerator returns the generator of mix.
func newGenerator(mix Mix, seed uint64, corpusDir string) (generator, error) {
	switch mix {
	case MixHeavy:
		return newHeavy(seed), nil
	case MixReal:
		return newReal(seed, corpusDir)
	case MixBigLines:
		r, err := newReal(seed, corpusDir)
		if err != nil {
			return nil, err
		}
		return newBigLines(r, seed), nil
	}
	return nil, fmt.Errorf("unknown mix %q (want heavy, real or biglines)", mix)
}

// ids hands out unique, UUID-shaped auditIDs: random-looking but determined
// by the seed, unique because the last 48 bits are a sequence number.
type ids struct {
	rng *rand.Rand
	seq uint64
}

func newIDs(seed uint64) *ids { return &ids{rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))} }

// appendNext appends the next auditID (36 bytes).
func (g *ids) appendNext(b []byte) []byte {
	r := g.rng.Uint64()
	g.seq++
	b = appendHex(b, r>>32, 8)
	b = append(b, '-')
	b = appendHex(b, r>>16&0xffff, 4)
	b = append(b, '-', '4')
	b = appendHex(b, r&0xfff, 3)
	b = append(b, '-')
	b = appendHex(b, 0x8000|g.rng.Uint64()&0x3fff, 4)
	b = append(b, '-')
	return appendHex(b, g.seq&(1<<48-1), 12)
}

// uuid returns a random UUID-shaped string (not unique by construction; for
// object uids).
func uuid(rng *rand.Rand) string {
	a, c := rng.Uint64(), rng.Uint64()
	b := make([]byte, 0, 36)
	b = appendHex(b, a>>32, 8)
	b = append(b, '-')
	b = appendHex(b, a>>16&0xffff, 4)
	b = append(b, '-', '4')
	b = appendHex(b, a&0xfff, 3)
	b = append(b, '-')
	b = appendHex(b, 0x8000|c>>48&0x3fff, 4)
	b = append(b, '-')
	return string(appendHex(b, c&(1<<48-1), 12))
}

// appendHex appends the low n hex digits of v, zero-padded.
func appendHex(b []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, hexDigits[v>>(4*uint(i))&0xf])
	}
	return b
}

// randHex returns n random hex digits.
func randHex(rng *rand.Rand, n int) string {
	b := make([]byte, 0, n)
	for len(b) < n {
		b = appendHex(b, rng.Uint64(), min(16, n-len(b)))
	}
	return string(b)
}

const alnum = "bcdfghjklmnpqrstvwxz2456789"

// randName returns n random characters of the alphabet Kubernetes uses for
// generated name suffixes.
func randName(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[rng.IntN(len(alnum))]
	}
	return string(b)
}

// logUniform returns a size drawn log-uniformly from [lo, hi].
func logUniform(rng *rand.Rand, lo, hi int) int {
	return int(float64(lo) * math.Exp(rng.Float64()*math.Log(float64(hi)/float64(lo))))
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }
