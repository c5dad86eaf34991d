package auditlog

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The input is stopped and restarted many times while lumberjack writes,
// rotates and gzips. With every batch acknowledged, the runs together read
// every line exactly once; when the last batches of a run are never
// acknowledged (a crash), the next run starts exactly after the last
// acknowledged one.
func TestRestartsUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash bool
	}{{"clean", false}, {"crash", true}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.mkdir()
			l := h.logger(true, 0)
			lines := genLines(t, 8000, 40)
			rng := rand.New(rand.NewPCG(uint64(len(tc.name)), 2))

			first := &recSink{}
			runs := []*recSink{first}
			r := h.start(first, func(c *Config) { c.BatchEvents = 100 })
			done := make(chan struct{})
			go func() {
				defer close(done)
				w := rand.New(rand.NewPCG(3, 4))
				next := 100 + w.IntN(400)
				for i := range lines {
					if i == next {
						time.Sleep(2 * time.Millisecond)
						if err := l.Rotate(); err != nil {
							panic(err)
						}
						next += 100 + w.IntN(400)
					}
					writeLines(t, l, lines[i:i+1])
					if i%10 == 0 {
						time.Sleep(time.Millisecond)
					}
				}
			}()
			writing := true
			for writing {
				select {
				case <-done:
					writing = false
				case <-time.After(time.Duration(10+rng.IntN(60)) * time.Millisecond):
				}
				require.NoError(t, r.stop(t))
				s := &recSink{}
				if tc.crash && writing {
					k := rng.IntN(4)
					s.ack = func(b int) bool { return b < k }
				}
				runs = append(runs, s)
				r = h.start(s, func(c *Config) { c.BatchEvents = 100 })
			}
			last := runs[len(runs)-1]
			t.Cleanup(func() {
				if t.Failed() {
					got := last.all()
					t.Logf("last run got %d events", len(got))
					if len(got) > 0 {
						t.Logf("last event: %.100s", got[len(got)-1])
					}
					ents, _ := os.ReadDir(h.dir)
					for _, e := range ents {
						fi, _ := e.Info()
						t.Logf("file %s %d", e.Name(), fi.Size())
					}
					b, _ := os.ReadFile(h.ckptPath())
					t.Logf("checkpoint: %s", b)
				}
			})
			// Where the runs got to together: acknowledged events of every
			// run but the last, plus all the last one read.
			covered := func() int {
				pos := 0
				for i, s := range runs {
					if i == len(runs)-1 {
						pos += s.count()
					} else {
						pos += s.acked()
					}
				}
				return pos
			}
			eventually(t, 20*time.Second, func() bool { return covered() >= len(lines) }, "the last line")
			settle()
			require.NoError(t, r.stop(t))

			// Each run reads a contiguous stretch, starting exactly where the
			// acknowledged events of the previous runs end.
			pos := 0
			for i, s := range runs {
				got := s.all()
				require.LessOrEqual(t, pos+len(got), len(lines), "run %d read past the end", i)
				requireLines(t, lines[pos:pos+len(got)], got)
				if i == len(runs)-1 {
					pos += len(got)
				} else {
					pos += s.acked()
				}
			}
			require.Equal(t, len(lines), pos, "runs %d", len(runs))
			t.Logf("%d runs", len(runs))
		})
	}
}
