// Package lossreport reads back the auditlog input's loss report lines
// (ERROR for a file lost, WARN for a gap of files never seen), for tests
// that check what the agent reported lost against the truth.
package lossreport

import (
	"regexp"
	"strconv"
	"strings"
)

// Range is an estimate and its range, summed over report lines.
type Range struct{ Est, Lo, Hi int64 }

// Report sums the estimates of the loss report lines.
type Report struct {
	Bytes, Files Range
	Gaps         int      // WARN lines: gaps of files never seen
	Lines        []string // the report lines
}

var lossAttr = regexp.MustCompile(` (bytes|files)_lost_(estimated|min|max)=(\d+)`)

// Parse sums the report lines among lines (the agent's text log).
func Parse(lines []string) Report {
	var rep Report
	for _, l := range lines {
		if !strings.Contains(l, "_lost_estimated=") {
			continue
		}
		rep.Lines = append(rep.Lines, l)
		if strings.Contains(l, "level=WARN") {
			rep.Gaps++
		}
		for _, m := range lossAttr.FindAllStringSubmatch(l, -1) {
			v, _ := strconv.ParseInt(m[3], 10, 64)
			r := &rep.Bytes
			if m[1] == "files" {
				r = &rep.Files
			}
			switch m[2] {
			case "estimated":
				r.Est += v
			case "min":
				r.Lo += v
			case "max":
				r.Hi += v
			}
		}
	}
	return rep
}
