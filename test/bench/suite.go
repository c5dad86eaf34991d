package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Targets (issue "Performance: a reproducible benchmark and the CPU and
// memory targets").
const (
	TargetHeavyCPUPerGiB  = 2.2     // CPU-s per GiB, heavy mix
	TargetRSSMiB          = 64.0    // peak RSS, every workload
	TargetRealEventsPerCS = 200_000 // events per CPU-second, real mix
	TargetP99             = time.Second
	// Steady rates (real mix, one write per event): agent CPU in % of a
	// core at 5,000 and 500 events/s, and idle (nothing written for a
	// minute) after the 500 events/s run.
	TargetSteadyCPU = 5.0
	TargetSlowCPU   = 1.0
	TargetIdleCPU   = 0.05
	SlowRate        = 500
	IdleTime        = time.Minute
	TargetLinearity = 0.10 // CPU-s/GiB at 4x the size within ±10%
	// TargetFlatMiB bounds the peak RSS added by 1 MiB and 3.9 MiB lines
	// over the same mix without them: 4 x max_line_bytes (4 MiB), i.e. a
	// few copies of the longest line, not a function of how many there are.
	TargetFlatMiB = 16.0
)

type scenarioResults struct {
	name    string
	results []Result
}

// throughputTable writes the throughput runs' table.
func throughputTable(w io.Writer, ss []scenarioResults) {
	var rows [][]string
	for _, s := range ss {
		rs := s.results
		rows = append(rows, []string{
			s.name, sizeString(rs[0].Bytes), fmtNum(float64(rs[0].Events), 0),
			fmtNum(float64(rs[0].Bytes)/float64(rs[0].Events), 0),
			of(rs, Result.CPUPerGiB).format(2),
			of(rs, func(r Result) float64 { return r.Usage.Sys.Seconds() / r.GiB() }).format(2),
			of(rs, Result.RSSMiB).format(1),
			of(rs, Result.MiBps).format(0),
			of(rs, Result.EventsPerSec).format(0),
			of(rs, Result.EventsPerCPUSec).format(0),
			of(rs, func(r Result) float64 { return r.Wall.Seconds() }).format(1),
			fmt.Sprint(len(rs)),
		})
	}
	table(w, []string{"workload", "input", "events", "B/event", "CPU-s/GiB", "of which sys", "peak RSS MiB", "MiB/s", "events/s", "events/CPU-s", "wall s", "runs"}, rows)
}

// latencyTable writes the steady-rate runs' table: one row per rate, and
// the idle cost where a run had an idle phase.
func latencyTable(w io.Writer, runs ...[]LatencyResult) {
	d := func(f func(LatencyResult) time.Duration) func(LatencyResult) float64 {
		return func(l LatencyResult) float64 { return float64(f(l)) / 1e6 }
	}
	var rows [][]string
	for _, ls := range runs {
		idle := "–"
		if ls[0].Idle > 0 {
			idle = of(ls, func(l LatencyResult) float64 { return l.IdleCPUPercent }).format(3) + " (" + ls[0].Idle.Round(time.Second).String() + ")"
		}
		rows = append(rows, []string{
			fmtNum(ls[0].Rate, 0), fmtNum(float64(ls[0].Events), 0),
			of(ls, d(func(l LatencyResult) time.Duration { return l.P50 })).format(0),
			of(ls, d(func(l LatencyResult) time.Duration { return l.P99 })).format(0),
			of(ls, d(func(l LatencyResult) time.Duration { return l.P999 })).format(0),
			of(ls, d(func(l LatencyResult) time.Duration { return l.Max })).format(0),
			of(ls, func(l LatencyResult) float64 { return l.CPUPercent }).format(2),
			idle,
			of(ls, func(l LatencyResult) float64 { return float64(l.Usage.MaxRSS) / (1 << 20) }).format(1),
			fmt.Sprint(len(ls)),
		})
	}
	table(w, []string{"rate ev/s", "events", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "agent CPU % of a core", "then idle: % of a core", "peak RSS MiB", "runs"}, rows)
}

// scenario is one throughput workload of the suite.
type scenario struct {
	name string
	w    *Workload
}

// Settle is how long the page-cache measurement waits before its cold
// write: free page reporting hands free guest memory back to the host after
// about 2 s.
const Settle = 5 * time.Second

// suite runs every workload and writes the report to stdout and
// <work>/report.md.
func (c *common) suite(ctx context.Context, scale, rate float64, dur time.Duration) error {
	sz := func(n int64) int64 { return int64(float64(n) * scale) }
	dur = time.Duration(float64(dur) * scale)
	start := time.Now()
	load0 := loadAvg()
	machine := Machine(c.repo)
	fmt.Fprintf(c.stdout, "# kubetrail benchmark\n\n%s\n", machine)

	heavy, err := c.prepare(MixHeavy, sz(1<<30))
	if err != nil {
		return err
	}
	real1, err := c.prepare(MixReal, sz(1<<30))
	if err != nil {
		return err
	}
	real4 := real1.Prefix(sz(256 << 20))
	big, err := c.prepare(MixBigLines, sz(256<<20))
	if err != nil {
		return err
	}
	if n := int(rate * dur.Seconds()); n > len(real1.Events) {
		return fmt.Errorf("the latency run needs %d events, the real workload holds %d", n, len(real1.Events))
	}
	c.logf("measuring the cost of page-cache writes (1 GiB, warm and after %s)", Settle)
	warm, cold, err := PageCacheWriteCost(c.work, sz(1<<30), Settle)
	if err != nil {
		return err
	}

	var ss []scenarioResults
	for _, s := range []scenario{
		{name: "heavy", w: heavy},
		{name: "real", w: real1},
		{name: "real, ¼ size (linearity)", w: real4},
		{name: "biglines (1 + 3.9 MiB lines)", w: big},
	} {
		rs, err := c.throughput(ctx, s.w)
		if err != nil {
			return err
		}
		ss = append(ss, scenarioResults{s.name, rs})
	}
	ls, err := c.latency(ctx, real1, rate, dur, 0)
	if err != nil {
		return err
	}
	slow, err := c.latency(ctx, real1, SlowRate, dur, time.Duration(float64(IdleTime)*min(1, scale*4)))
	if err != nil {
		return err
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# kubetrail benchmark\n\n%s", machine)
	fmt.Fprintf(&b, "- page cache: writing %s costs %.2f s of system time warm, %.2f s on memory the host took back (after %s idle)\n",
		sizeString(sz(1<<30)), warm.Seconds(), cold.Seconds(), Settle)
	fmt.Fprintf(&b, "- runs: %d per workload, median (min–max); suite took %s; 1-minute load average %.2f at the start, %.2f at the end (other work on the machine shows in the spread)\n\n",
		c.runs, time.Since(start).Round(time.Second), load0, loadAvg())
	b.WriteString("## Throughput (agent tailing lumberjack-rotated audit log -> disk buffer -> file output)\n\n")
	throughputTable(&b, ss)
	b.WriteString("\n## Latency at a steady rate (real mix, default batching)\n\n")
	latencyTable(&b, ls, slow)
	b.WriteString("\n## Targets\n\n")
	targetTable(&b, ss, ls, slow)
	report := b.String()
	fmt.Fprint(c.stdout, "\n"+report[strings.Index(report, "- page cache"):])
	path := filepath.Join(c.work, "report.md")
	if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	c.logf("report written to %s", path)
	return nil
}

// targetTable compares the medians with the targets.
func targetTable(w io.Writer, ss []scenarioResults, ls, slow []LatencyResult) {
	heavy, real1, real4, big := ss[0].results, ss[1].results, ss[2].results, ss[3].results
	verdict := func(ok bool, how string) string {
		if ok {
			return "met (" + how + ")"
		}
		return "NOT met (" + how + ")"
	}
	cpu := of(heavy, Result.CPUPerGiB).med
	rss, rssName := 0.0, ""
	for _, s := range ss {
		if r := of(s.results, Result.RSSMiB).med; r > rss {
			rss, rssName = r, s.name
		}
	}
	steady := of(ls, func(l LatencyResult) float64 { return l.CPUPercent }).med
	slowCPU := of(slow, func(l LatencyResult) float64 { return l.CPUPercent }).med
	idle := of(slow, func(l LatencyResult) float64 { return l.IdleCPUPercent }).med
	evcs := of(real1, Result.EventsPerCPUSec).med
	p99 := time.Duration(of(ls, func(l LatencyResult) float64 { return float64(l.P99) }).hi)
	lin1, lin4 := of(real4, Result.CPUPerGiB).med, of(real1, Result.CPUPerGiB).med
	dev := lin1/lin4 - 1
	plain, bigRSS := of(real4, Result.RSSMiB).med, of(big, Result.RSSMiB).med
	rows := [][]string{
		{"heavy mix CPU", "≤ 2.2 CPU-s/GiB", fmt.Sprintf("%.2f CPU-s/GiB", cpu),
			verdict(cpu <= TargetHeavyCPUPerGiB, fmt.Sprintf("%.2fx the target", cpu/TargetHeavyCPUPerGiB))},
		{"peak RSS, every workload (highest median)", "≤ 64 MiB", fmt.Sprintf("%.1f MiB (%s)", rss, rssName),
			verdict(rss <= TargetRSSMiB, fmt.Sprintf("%+.1f MiB", rss-TargetRSSMiB))},
		{"real mix events per CPU-second", "≥ 200,000", fmtNum(evcs, 0),
			verdict(evcs >= TargetRealEventsPerCS, fmt.Sprintf("%.2fx the target", evcs/TargetRealEventsPerCS))},
		{"p99 latency at 5,000 ev/s (worst run)", "≤ 1 s", ms(p99),
			verdict(p99 <= TargetP99, fmt.Sprintf("%.2fx the target", p99.Seconds()/TargetP99.Seconds()))},
		{"agent CPU at 5,000 ev/s", "≤ 5% of a core", fmt.Sprintf("%.2f%%", steady),
			verdict(steady <= TargetSteadyCPU, fmt.Sprintf("%.2fx the target", steady/TargetSteadyCPU))},
		{"agent CPU at 500 ev/s", "≤ 1% of a core", fmt.Sprintf("%.2f%%", slowCPU),
			verdict(slowCPU <= TargetSlowCPU, fmt.Sprintf("%.2fx the target", slowCPU/TargetSlowCPU))},
		{"agent CPU idle", "≤ 0.05% of a core", fmt.Sprintf("%.3f%%", idle),
			verdict(idle <= TargetIdleCPU, fmt.Sprintf("%.2fx the target", idle/TargetIdleCPU))},
		{"cost linear in input size", "CPU-s/GiB at 1x and 4x within ±10%", fmt.Sprintf("%.2f at %s, %.2f at %s", lin1, sizeString(real4[0].Bytes), lin4, sizeString(real1[0].Bytes)),
			verdict(dev <= TargetLinearity && dev >= -TargetLinearity, fmt.Sprintf("%+.1f%%", 100*dev))},
		{"memory flat in line size", "peak RSS with 1 and 3.9 MiB lines ≤ plain + 16 MiB", fmt.Sprintf("%.1f MiB vs %.1f MiB", bigRSS, plain),
			verdict(bigRSS-plain <= TargetFlatMiB, fmt.Sprintf("%+.1f MiB", bigRSS-plain))},
	}
	table(w, []string{"target", "goal", "measured (median)", "verdict"}, rows)
}
