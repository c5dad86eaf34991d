package buffer

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	crashEnvDir    = "KUBETRAIL_BUFFER_CRASH_DIR"
	crashEnvPolicy = "KUBETRAIL_BUFFER_CRASH_POLICY"
	crashEnvStart  = "KUBETRAIL_BUFFER_CRASH_START"
	// crashEnvHook ("point:n") makes the child kill itself with SIGKILL
	// the n-th time it reaches that point of a file operation; only cursor
	// "out" exists then, so segment files are recycled.
	crashEnvHook = "KUBETRAIL_BUFFER_CRASH_HOOK"
	crashBatch   = 100 // records per Next of the child's reader
)

func crashOptions(dir string, policy FsyncPolicy) Options {
	return Options{Dir: dir, MaxBytes: 256 << 20, SegmentBytes: 256 << 10, Fsync: policy,
		FsyncInterval: 5 * time.Millisecond, Cursors: []string{"out", "all"}}
}

// TestCrashChild is the process TestCrashKill9 kills: it appends records
// numbered from $START and prints "D n" when record n is durable, and reads
// cursor "out", printing "C n" after committing up to record n. It never
// returns on its own.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnvDir)
	if dir == "" {
		t.Skip("only run as the child of TestCrashKill9")
	}
	start, err := strconv.Atoi(os.Getenv(crashEnvStart))
	require.NoError(t, err)
	opts := crashOptions(dir, FsyncPolicy(os.Getenv(crashEnvPolicy)))
	if hook := os.Getenv(crashEnvHook); hook != "" {
		opts.Cursors = []string{"out"}
		k := strings.LastIndexByte(hook, ':')
		point := hook[:k]
		left, err := strconv.Atoi(hook[k+1:])
		require.NoError(t, err)
		opts.crashHook = func(p string) {
			if p == point {
				if left--; left == 0 {
					_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
					select {} // the signal is on its way
				}
			}
		}
	}
	b, err := Open(opts)
	require.NoError(t, err)
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		_, _ = fmt.Fprintf(os.Stdout, format+"\n", args...) // unbuffered: one write per line
	}
	go func() {
		c, err := b.Cursor("out")
		if err != nil {
			panic(err)
		}
		prev := -1
		for {
			recs, err := c.Next(context.Background(), crashBatch, 0)
			if err != nil {
				panic(err)
			}
			for _, r := range recs {
				n := numberOf(t, r.Data)
				if prev >= 0 && n != prev+1 {
					panic(fmt.Sprintf("cursor out: record %d after %d", n, prev))
				}
				prev = n
			}
			if err := c.Commit(recs[len(recs)-1].End); err != nil {
				panic(err)
			}
			say("C %d", prev)
		}
	}()
	r := rand.New(rand.NewPCG(uint64(start), 7))
	say("R")
	for i := start; ; {
		k := 1 + r.IntN(60)
		recs := make([][]byte, k)
		for j := range recs {
			recs[j] = payload(i + j)
		}
		last := i + k - 1
		if err := b.Append(context.Background(), recs, func() { say("D %d", last) }); err != nil {
			panic(err)
		}
		i += k
	}
}

// TestCrashKill9 runs TestCrashChild in a child process, kills it with
// SIGKILL while it appends and commits, and checks what a new Open finds:
// every record whose onDurable fired, all in order and without gaps, and
// cursor "out" resuming right after its last commit (at most one batch
// that was committed but not yet reported is skipped).
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	policies := []FsyncPolicy{FsyncAlways, FsyncInterval, FsyncNever, FsyncInterval, FsyncAlways, FsyncNever}
	next, lastCommit := 0, -1
	r := rand.New(rand.NewPCG(42, 42))
	for round, policy := range policies {
		t0 := time.Now()
		durable, committed := runAndKill(t, dir, policy, next, lastCommit, r)
		t.Logf("round %d (%s, %s): started at %d, durable up to %d, committed up to %d",
			round, policy, time.Since(t0).Round(time.Millisecond), next, durable, committed)
		if committed >= 0 {
			lastCommit = committed
		}

		b, err := Open(crashOptions(dir, policy))
		require.NoError(t, err, "round %d", round)
		all := readAvailable(t, mustCursorNoCleanup(t, b, "all"))
		require.NotEmpty(t, all)
		for i, n := range all {
			require.Equal(t, i, n, "round %d: cursor all: records in order without gaps", round)
		}
		last := len(all) - 1
		assert.GreaterOrEqual(t, last, durable, "round %d: every durable record survived", round)
		out := readAvailable(t, mustCursorNoCleanup(t, b, "out"))
		if lastCommit+1 <= last {
			require.NotEmpty(t, out, "round %d", round)
			assert.GreaterOrEqual(t, out[0], lastCommit+1, "round %d: committed records are not delivered again", round)
			assert.LessOrEqual(t, out[0], lastCommit+1+crashBatch, "round %d: at most one batch committed unreported", round)
			assert.Equal(t, last, out[len(out)-1])
		}
		require.NoError(t, b.Close())
		next = last + 1
	}
}

func mustCursorNoCleanup(t *testing.T, b *Buffer, name string) *Cursor {
	t.Helper()
	c, err := b.Cursor(name)
	require.NoError(t, err)
	return c
}

// readAvailable reads what the cursor has now and returns the numbers.
func readAvailable(t *testing.T, c *Cursor) []int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Next returns ctx.Err() only when it would have to wait
	var out []int
	for {
		recs, err := c.Next(ctx, 1000, 0)
		if err != nil {
			require.ErrorIs(t, err, context.Canceled)
			return out
		}
		out = append(out, numbers(t, recs)...)
	}
}

// runAndKill starts the child, lets it run until it reported durable
// records and a commit past prevCommit, then kills it with SIGKILL. It returns the highest
// record reported durable and committed (-1 if none).
func runAndKill(t *testing.T, dir string, policy FsyncPolicy, start, prevCommit int, r *rand.Rand) (durable, committed int) {
	t.Helper()
	return runChild(t, dir, policy, "", start, prevCommit, r)
}

// runChild is runAndKill; with a hook the child kills itself there instead
// (and the parent kills it only if it is still alive after making progress).
func runChild(t *testing.T, dir string, policy FsyncPolicy, hook string, start, prevCommit int, r *rand.Rand) (durable, committed int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvDir+"="+dir, crashEnvPolicy+"="+string(policy),
		crashEnvStart+"="+strconv.Itoa(start), crashEnvHook+"="+hook)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())

	durable, committed = -1, -1
	var mu sync.Mutex
	progress := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			kind, num, ok := strings.Cut(line, " ")
			n, err := strconv.Atoi(num)
			if !ok || err != nil {
				continue // not ours, or cut by the kill
			}
			mu.Lock()
			switch kind {
			case "D":
				durable = max(durable, n)
			case "C":
				committed = max(committed, n)
			}
			ready := durable >= start+1000 && committed > prevCommit
			mu.Unlock()
			if ready {
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		}
	}()
	if hook != "" {
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("child never reached %s\n%s", hook, stderr.String())
		}
		err := cmd.Wait()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "child: %s", stderr.String())
		ws, ok := exit.Sys().(syscall.WaitStatus)
		require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "child killed itself at %s: %v\n%s", hook, err, stderr.String())
		mu.Lock()
		defer mu.Unlock()
		return durable, committed
	}
	select {
	case <-progress:
	case <-done:
		t.Fatalf("child exited early: %v\n%s", cmd.Wait(), stderr.String())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("child made no progress\n%s", stderr.String())
	}
	time.Sleep(time.Duration(r.IntN(30)) * time.Millisecond)
	require.NoError(t, cmd.Process.Kill()) // SIGKILL
	<-done
	_ = cmd.Wait()
	mu.Lock()
	defer mu.Unlock()
	return durable, committed
}

// TestCrashDuringSegmentReuse kills the child (cursor "out" only, so that
// segment files are recycled) at each step of reusing a spare file: after
// the new header is written, and after the rename (before the directory
// fsync). Every durable record must survive, in order, and no stale record
// of the file's earlier epoch may be read.
func TestCrashDuringSegmentReuse(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	opts := func(policy FsyncPolicy) Options {
		o := crashOptions(dir, policy)
		o.Cursors = []string{"out"}
		return o
	}
	type round struct {
		policy FsyncPolicy
		hook   string
	}
	rounds := []round{
		{FsyncAlways, "reuse:header:3"}, {FsyncInterval, "reuse:renamed:2"}, {FsyncNever, "reuse:header:4"},
		{FsyncInterval, "reuse:header:1"}, {FsyncAlways, "reuse:renamed:5"}, {FsyncNever, "reuse:renamed:3"},
	}
	next, lastCommit := 0, -1
	r := rand.New(rand.NewPCG(7, 7))
	for i, rd := range rounds {
		durable, committed := runChild(t, dir, rd.policy, rd.hook, next, lastCommit, r)
		t.Logf("round %d (%s, %q): started at %d, durable up to %d, committed up to %d", i, rd.policy, rd.hook, next, durable, committed)
		if committed >= 0 {
			lastCommit = committed
		}
		b, err := Open(opts(rd.policy))
		require.NoError(t, err, "round %d", i)
		assert.Zero(t, b.Stats().Corrupt, "round %d", i)
		out := readAvailable(t, mustCursorNoCleanup(t, b, "out"))
		require.NotEmpty(t, out, "round %d: records past the last commit", i)
		for k, n := range out {
			require.Equal(t, out[0]+k, n, "round %d: in order, without gaps or stale records", i)
		}
		assert.GreaterOrEqual(t, out[0], lastCommit+1, "round %d: committed records are not delivered again", i)
		assert.LessOrEqual(t, out[0], lastCommit+1+crashBatch, "round %d: at most one batch committed unreported", i)
		last := out[len(out)-1]
		assert.GreaterOrEqual(t, last, durable, "round %d: every durable record survived", i)
		require.NoError(t, b.Close())
		next = last + 1
	}
}
