package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/kubetrail/kubetrail/config"
)

// common are the flags every subcommand takes.
type common struct {
	agent, work, corpus, repo string
	runs                      int
	pipelineYAML              string
	outputYAML                string
	prefault                  string
	runPrefault               string
	settle                    time.Duration
	perf                      string
	agentCPUProfile           string
	seed                      uint64
	keep                      bool
	stdout, stderr            io.Writer
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.agent, "agent", "", "agent binary (default: go build ./cmd/agent into the work dir)")
	fs.StringVar(&c.work, "work", envOr("KUBETRAIL_BENCH_WORK", filepath.Join(os.TempDir(), "kubetrail-bench")), "work dir: workload caches, run dirs, report (env KUBETRAIL_BENCH_WORK)")
	fs.StringVar(&c.corpus, "corpus", "", "real corpus dir (default: <repo>/"+CorpusDir+")")
	runs, _ := strconv.Atoi(envOr("KUBETRAIL_BENCH_RUNS", "3"))
	fs.IntVar(&c.runs, "runs", runs, "repetitions of each workload (env KUBETRAIL_BENCH_RUNS)")
	fs.Uint64Var(&c.seed, "seed", DefaultSeed, "generator seed")
	fs.BoolVar(&c.keep, "keep", false, "keep each run's files (audit log, state, output)")
	fs.StringVar(&c.prefault, "prefault", "", "write and delete this much data once at the start (see Prefault; -run-prefault, before each run, is what keeps runs comparable)")
	fs.StringVar(&c.runPrefault, "run-prefault", "auto", "write and delete this much data right before each throughput run; auto: 3x the workload (what a run writes), 0: none")
	fs.DurationVar(&c.settle, "settle", 0, "sleep before each run (e.g. 5s: measure on memory a VM's host took back)")
	fs.StringVar(&c.agentCPUProfile, "agent-cpuprofile", "", "run, latency: pass -cpuprofile FILE to the agent (.N per run)")
	fs.StringVar(&c.perf, "perf", "", "run: record the agent with `perf record -g` into this file (.N per run)")
	fs.StringVar(&c.outputYAML, "output-yaml", "", `run: ship to this output instead of the file output, e.g. '{type: kafka, brokers: ["127.0.0.1:19092"], topic: bench-%RUN%}' (%RUN% is unique per run; done when the sent-events metric counts every event)`)
	fs.StringVar(&c.pipelineYAML, "pipeline-yaml", "", `experiments: YAML appended to the pipeline, e.g. 'buffer: {fsync: never}' (the benchmark uses the defaults)`)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (c *common) logf(format string, args ...any) {
	fmt.Fprintf(c.stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

// setup resolves the repository, the corpus and the agent binary.
func (c *common) setup(needAgent bool) error {
	if c.runs < 1 {
		return fmt.Errorf("-runs must be at least 1")
	}
	repo, err := findRepo()
	if err != nil && (c.corpus == "" || needAgent && c.agent == "") {
		return err
	}
	c.repo = repo
	if c.corpus == "" {
		c.corpus = filepath.Join(repo, CorpusDir)
	}
	if err := os.MkdirAll(c.work, 0o755); err != nil {
		return fmt.Errorf("create work dir: %w", err)
	}
	if c.runPrefault != "auto" {
		if _, err := config.ParseSize(c.runPrefault); err != nil {
			return fmt.Errorf("-run-prefault: %w", err)
		}
	}
	if c.prefault != "" && c.prefault != "0" {
		n, err := config.ParseSize(c.prefault)
		if err != nil {
			return fmt.Errorf("-prefault: %w", err)
		}
		t0 := time.Now()
		if err := Prefault(c.work, n.Bytes()); err != nil {
			return err
		}
		c.logf("prefaulted %s in %.1fs", c.prefault, time.Since(t0).Seconds())
	}
	if needAgent && c.agent == "" {
		c.agent = filepath.Join(c.work, "agent")
		c.logf("building the agent: go build -o %s ./cmd/agent", c.agent)
		cmd := exec.Command("go", "build", "-o", c.agent, "./cmd/agent")
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/agent: %w\n%s", err, out)
		}
	}
	return nil
}

// findRepo walks up from the working directory to kubetrail's go.mod.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/kubetrail/kubetrail\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the kubetrail repository (no go.mod of github.com/kubetrail/kubetrail above the working directory); pass -corpus and -agent")
		}
		dir = parent
	}
}

func (c *common) prepare(mix Mix, size int64) (*Workload, error) {
	t0 := time.Now()
	w, err := Prepare(filepath.Join(c.work, "cache"), mix, size, c.seed, c.corpus)
	if err != nil {
		return nil, err
	}
	if d := time.Since(t0); d > time.Second {
		c.logf("workload %s %s ready in %.1fs", mix, sizeString(size), d.Seconds())
	}
	return w, nil
}

func (c *common) runOptions(name string) RunOptions {
	rp := int64(-1) // auto
	if c.runPrefault != "auto" {
		n, _ := config.ParseSize(c.runPrefault) // checked in setup
		rp = n.Bytes()
	}
	o := RunOptions{Agent: c.agent, Dir: filepath.Join(c.work, "run-"+name), Keep: c.keep, Log: c.logf, Prefault: rp, Settle: c.settle, Perf: c.perf, CPUProfile: c.agentCPUProfile}
	if c.pipelineYAML != "" {
		o.PipelineYAML = "    " + c.pipelineYAML + "\n"
	}
	o.OutputYAML = c.outputYAML
	return o
}

// Main runs the kubetrail-bench command line.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := "usage: kubetrail-bench suite|run|latency|gen|profile [flags]; -h after a subcommand lists its flags"
	if len(args) == 0 {
		return errors.New(usage)
	}
	c := &common{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("kubetrail-bench "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs)
	mix := fs.String("mix", string(MixHeavy), "workload mix: heavy, real or biglines")
	sizeFlag := fs.String("size", "1GiB", "workload size (e.g. 256MiB, 1GiB)")
	rate := fs.Float64("rate", 5000, "latency: events per second")
	dur := fs.Duration("duration", 30*time.Second, "latency: how long to write")
	idle := fs.Duration("idle", 0, "latency: then watch the agent idle this long (no writes) and report its CPU")
	scale := fs.Float64("scale", 1, "suite: multiply every workload size (and the latency run's length) by this, for a quick check")
	cpuprofile := fs.String("cpuprofile", "", "profile: write a CPU profile here")
	memprofile := fs.String("memprofile", "", "profile: write an allocation profile here (alloc_space over the run, inuse_space when every event was delivered)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	size, err := config.ParseSize(*sizeFlag)
	if err != nil {
		return fmt.Errorf("-size: %w", err)
	}
	switch args[0] {
	case "suite":
		if err := c.setup(true); err != nil {
			return err
		}
		return c.suite(ctx, *scale, *rate, *dur)
	case "run":
		if err := c.setup(true); err != nil {
			return err
		}
		w, err := c.prepare(Mix(*mix), size.Bytes())
		if err != nil {
			return err
		}
		rs, err := c.throughput(ctx, w)
		if err != nil {
			return err
		}
		throughputTable(stdout, []scenarioResults{{name: string(w.Mix), results: rs}})
		return nil
	case "latency":
		if err := c.setup(true); err != nil {
			return err
		}
		w, err := c.prepare(MixReal, latencyBytes(*rate, *dur))
		if err != nil {
			return err
		}
		ls, err := c.latency(ctx, w, *rate, *dur, *idle)
		if err != nil {
			return err
		}
		latencyTable(stdout, ls)
		return nil
	case "gen":
		if err := c.setup(false); err != nil {
			return err
		}
		w, err := c.prepare(Mix(*mix), size.Bytes())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d events, %d bytes (mean %.0f B) in %s\n", w.Mix, len(w.Events), w.Bytes, float64(w.Bytes)/float64(len(w.Events)), w.Path)
		cs, err := w.Describe()
		if err != nil {
			return err
		}
		for _, cl := range cs {
			fmt.Fprintf(stdout, "  %-24s %6.2f%% of events, %6.2f%% of bytes, mean %s B\n", cl.Name,
				100*float64(cl.Events)/float64(len(w.Events)), 100*float64(cl.Bytes)/float64(w.Bytes), fmtNum(float64(cl.Bytes)/float64(max(1, cl.Events)), 0))
		}
		return nil
	case "profile":
		if err := c.setup(false); err != nil {
			return err
		}
		w, err := c.prepare(Mix(*mix), size.Bytes())
		if err != nil {
			return err
		}
		return c.profile(ctx, w, *cpuprofile, *memprofile)
	}
	return errors.New(usage)
}

// latencyBytes is a real-mix size that holds rate*dur events.
func latencyBytes(rate float64, dur time.Duration) int64 {
	return max(64<<20, int64(rate*dur.Seconds()*2000))
}

// throughput repeats a throughput run.
func (c *common) throughput(ctx context.Context, w *Workload) ([]Result, error) {
	return c.throughputWith(ctx, w, c.runOptions(string(w.Mix)))
}

func (c *common) throughputWith(ctx context.Context, w *Workload, o RunOptions) ([]Result, error) {
	var rs []Result
	for i := range c.runs {
		c.logf("%s %s, run %d/%d: %d events", w.Mix, sizeString(w.Bytes), i+1, c.runs, len(w.Events))
		if o.Perf != "" && c.runs > 1 {
			o.Perf = fmt.Sprintf("%s.%d", c.perf, i+1)
		}
		if o.CPUProfile != "" && c.runs > 1 {
			o.CPUProfile = fmt.Sprintf("%s.%d", c.agentCPUProfile, i+1)
		}
		r, err := RunThroughput(ctx, w, o)
		if err != nil {
			return nil, fmt.Errorf("%s %s run %d: %w", w.Mix, sizeString(w.Bytes), i+1, err)
		}
		c.logf("  %.2f CPU-s/GiB, peak RSS %.1f MiB, %.0f MiB/s, %.0f events/s, %.0f events/CPU-s (wall %.1fs, user %.2fs, sys %.2fs; load %.2f)",
			r.CPUPerGiB(), r.RSSMiB(), r.MiBps(), r.EventsPerSec(), r.EventsPerCPUSec(), r.Wall.Seconds(), r.Usage.User.Seconds(), r.Usage.Sys.Seconds(), loadAvg())
		if r.DeadLetter > 0 {
			c.logf("  WARNING: %.0f events dead-lettered", r.DeadLetter)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// latency repeats a latency run.
func (c *common) latency(ctx context.Context, w *Workload, rate float64, dur, idle time.Duration) ([]LatencyResult, error) {
	var ls []LatencyResult
	for i := range c.runs {
		c.logf("latency at %.0f events/s for %s, run %d/%d", rate, dur, i+1, c.runs)
		o := c.runOptions("latency")
		o.Idle = idle
		if o.CPUProfile != "" && c.runs > 1 {
			o.CPUProfile = fmt.Sprintf("%s.%d", c.agentCPUProfile, i+1)
		}
		l, err := RunLatency(ctx, w, rate, dur, o)
		if err != nil {
			return nil, fmt.Errorf("latency run %d: %w", i+1, err)
		}
		c.logf("  p50 %s, p99 %s, p99.9 %s, max %s, agent CPU %.2f%% of a core, idle %.3f%%, peak RSS %.1f MiB",
			ms(l.P50), ms(l.P99), ms(l.P999), ms(l.Max), l.CPUPercent, l.IdleCPUPercent, float64(l.Usage.MaxRSS)/(1<<20))
		ls = append(ls, l)
	}
	return ls, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/1e6) }

// profile runs w in process under the CPU (and allocation) profiler.
func (c *common) profile(ctx context.Context, w *Workload, cpuFile, memFile string) error {
	pre := int64(3 * w.Bytes) // as before a throughput run (-run-prefault)
	if c.runPrefault != "auto" {
		n, _ := config.ParseSize(c.runPrefault)
		pre = n.Bytes()
	}
	if err := Prefault(c.work, pre); err != nil {
		return err
	}
	if cpuFile != "" {
		f, err := os.Create(cpuFile)
		if err != nil {
			return fmt.Errorf("create CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	c.logf("in-process %s %s: %d events", w.Mix, sizeString(w.Bytes), len(w.Events))
	var heapErr error
	o := InProcessOptions{Dir: filepath.Join(c.work, "run-inprocess")}
	if memFile != "" {
		o.Delivered = func() {
			f, err := os.Create(memFile)
			if err != nil {
				heapErr = fmt.Errorf("create allocation profile: %w", err)
				return
			}
			defer f.Close()
			runtime.GC() // up-to-date inuse figures, with the agent's buffers live
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				heapErr = fmt.Errorf("write allocation profile: %w", err)
			}
		}
	}
	r, err := RunInProcess(ctx, w, o)
	if err != nil {
		return err
	}
	if heapErr != nil {
		return heapErr
	}
	fmt.Fprintf(c.stdout, "in-process %s %s: %d events in %.2fs wall, %.2f CPU-s for the whole process (%.2f CPU-s/GiB, apiserver writer included)\n",
		w.Mix, sizeString(w.Bytes), r.Events, r.Wall.Seconds(), r.CPU.Seconds(), r.CPU.Seconds()/(float64(w.Bytes)/(1<<30)))
	return nil
}
