package config

import (
	"path/filepath"
	"strconv"
)

// FileUser is implemented by component configs that read or write local
// files, so the loader can catch two components writing one file (two
// lumberjack loggers rotating it would overwrite each other's backups) or an
// output writing the file an input tails (a feedback loop).
type FileUser interface {
	// Files names the config fields (yaml keys) holding paths the component
	// reads and writes.
	Files() (reads, writes []FileRef)
}

// FileRef is a path and the yaml key it came from.
type FileRef struct {
	Field string
	Path  string
}

// fileClaim is one use of a file, located for error messages.
type fileClaim struct {
	path string // dotted config path of the field
	line int
}

// checkFiles reports files written twice, and files written that an input
// reads.
func (l *loader) checkFiles(cfg *Config, inputs, outputs []named) {
	writers := map[string]fileClaim{}
	readers := map[string]fileClaim{}
	claim := func(section string, e named, cfgv any) {
		fu, ok := cfgv.(FileUser)
		if !ok {
			return
		}
		reads, writes := fu.Files()
		for _, refs := range []struct {
			refs  []FileRef
			write bool
		}{{reads, false}, {writes, true}} {
			for _, r := range refs.refs {
				if r.Path == "" {
					continue
				}
				abs, err := filepath.Abs(r.Path)
				if err != nil {
					continue
				}
				line, path := locate(e.val, e.key.Line, joinPath(section, e.name), r.Field)
				c := fileClaim{path: path, line: line}
				if !refs.write {
					readers[abs] = c
					continue
				}
				if prev, dup := writers[abs]; dup {
					l.add(line, path, "file %s is also written by %s%s; give each its own file", r.Path, prev.path, lineNote(prev.line))
					continue
				}
				writers[abs] = c
			}
		}
	}
	if dl, err := filepath.Abs(cfg.Agent.DeadLetter.Path); err == nil && cfg.Agent.DeadLetter.Path != "" {
		writers[dl] = fileClaim{path: "agent.dead_letter.path"}
	}
	for _, e := range inputs {
		claim("inputs", e, cfg.Inputs[e.name].Config)
	}
	for _, e := range outputs {
		claim("outputs", e, cfg.Outputs[e.name].Config)
	}
	for abs, r := range readers {
		if w, ok := writers[abs]; ok {
			l.add(w.line, w.path, "writes the file that %s%s reads: a feedback loop", r.path, lineNote(r.line))
		}
	}
}

func lineNote(line int) string {
	if line == 0 {
		return ""
	}
	return " (line " + strconv.Itoa(line) + ")"
}
