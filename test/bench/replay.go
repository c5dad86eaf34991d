package bench

import (
	"context"
	"fmt"
	"io"
	"time"
)

// DefaultChunk is the size of one write of the fast replay: whole lines, so
// lumberjack (which never splits a write) rotates between events, like
// kube-apiserver's one-event writes do.
const DefaultChunk = 1 << 20

// ReplayStats describes one replay.
type ReplayStats struct {
	First, Last time.Time // first and last write
	Writes      int
	Events      int
}

// rotationGap is the least time between two rotations of the replay's
// lumberjack: it names backups by the millisecond, and a second rotation
// within the same millisecond overwrites the first backup (events lost
// before the agent could read them).
const rotationGap = 2 * time.Millisecond

// Replay writes every event of w to dst as fast as it can, in writes of up
// to chunk bytes of whole lines, each event stamped with the time of its
// write. When dst is a lumberjack.Logger that rotates at rotateAt bytes
// (MaxSize in bytes; 0 if it does not), rotations are kept rotationGap
// apart.
func (w *Workload) Replay(ctx context.Context, dst io.Writer, chunk int, rotateAt int64) (ReplayStats, error) {
	var st ReplayStats
	var fileBytes int64
	var rotated time.Time
	r, err := w.open()
	if err != nil {
		return st, err
	}
	defer r.close()
	ts := make([]byte, 0, tsLen)
	for !r.done() {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		buf, n, err := r.take(len(w.Events), chunk)
		if err != nil {
			return st, err
		}
		if rotateAt > 0 && fileBytes+int64(len(buf)) > rotateAt {
			// lumberjack rotates before this write.
			if d := time.Until(rotated.Add(rotationGap)); d > 0 {
				time.Sleep(d)
			}
			rotated, fileBytes = time.Now(), 0
		}
		fileBytes += int64(len(buf))
		now := time.Now()
		r.stamp(buf, n, appendTimestamp(ts[:0], now))
		if st.Writes == 0 {
			st.First = now
		}
		if _, err := dst.Write(buf); err != nil {
			return st, fmt.Errorf("write audit log: %w", err)
		}
		st.Writes++
		st.Events += n
		st.Last = now
	}
	return st, nil
}

// ReplayPaced writes the first n events of w to dst at rate events per
// second, one write per event like kube-apiserver's log backend (blocking
// mode): every tick, each event due by then, stamped with the time of its
// write.
func (w *Workload) ReplayPaced(ctx context.Context, dst io.Writer, rate float64, n int, tick time.Duration) (ReplayStats, error) {
	var st ReplayStats
	if n > len(w.Events) {
		return st, fmt.Errorf("paced replay of %d events: the workload holds only %d", n, len(w.Events))
	}
	r, err := w.open()
	if err != nil {
		return st, err
	}
	defer r.close()
	ts := make([]byte, 0, tsLen)
	start := time.Now()
	for st.Events < n {
		due := min(n, int(time.Since(start).Seconds()*rate)+1)
		for st.Events < due {
			buf, k, err := r.take(1, DefaultChunk)
			if err != nil {
				return st, err
			}
			now := time.Now()
			r.stamp(buf, k, appendTimestamp(ts[:0], now))
			if st.Writes == 0 {
				st.First = now
			}
			if _, err := dst.Write(buf); err != nil {
				return st, fmt.Errorf("write audit log: %w", err)
			}
			st.Writes++
			st.Events += k
			st.Last = now
		}
		next := start.Add(time.Duration(float64(st.Events) / rate * float64(time.Second)))
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(max(time.Until(next), tick)):
		}
	}
	return st, nil
}
