// Package testcorpus gives tests the real kube-apiserver audit corpus of
// testdata/corpus-run1 (10 files, 6,791 events) and a few fixed events, so
// packages do not each carry a loader.
package testcorpus

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// MetadataEvent is a real ~1 KB Metadata-level event from the corpus.
const MetadataEvent = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"b6cbc2b9-28db-4ed8-a6fc-c5e81889e379","stage":"ResponseComplete","requestURI":"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases?allowWatchBookmarks=true\u0026labelSelector=apiserver.kubernetes.io%2Fidentity%3Dkube-apiserver\u0026resourceVersion=1\u0026timeout=7m14s\u0026timeoutSeconds=434\u0026watch=true","verb":"watch","user":{"username":"system:apiserver","uid":"d2bc0422-7969-403b-be5b-707222502f30","groups":["system:authenticated","system:masters"]},"sourceIPs":["127.0.0.1"],"userAgent":"kube-apiserver/v1.34.4 (linux/amd64) kubernetes/$Format","objectRef":{"resource":"leases","namespace":"kube-system","apiGroup":"coordination.k8s.io","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-22T02:24:19.363066Z","stageTimestamp":"2026-11-22T02:27:17.144351Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}`

// Line is one event of the corpus.
type Line struct {
	Where string // file:line
	Raw   []byte
}

// Dir is the corpus directory (testdata/corpus-run1 at the repository root).
func Dir() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..", "testdata", "corpus-run1")
}

// Load returns every line of the real corpus, in file order (the active
// file's backups, then the pruned ones).
func Load(tb testing.TB) []Line {
	tb.Helper()
	var lines []Line
	files := 0
	for _, g := range []string{"*.log", "pruned-by-maxbackup/*.log"} {
		names, err := filepath.Glob(filepath.Join(Dir(), g))
		if err != nil {
			tb.Fatal(err)
		}
		for _, name := range names {
			files++
			data, err := os.ReadFile(name)
			if err != nil {
				tb.Fatal(err)
			}
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(nil, 4<<20)
			for n := 1; sc.Scan(); n++ {
				lines = append(lines, Line{
					Where: filepath.Base(name) + ":" + strconv.Itoa(n),
					Raw:   bytes.Clone(sc.Bytes()),
				})
			}
			if err := sc.Err(); err != nil {
				tb.Fatalf("%s: %v", name, err)
			}
		}
	}
	if files != 10 || len(lines) != 6791 {
		tb.Fatalf("corpus: %d files, %d lines; testdata/corpus-run1 has 10 files, 6791 events", files, len(lines))
	}
	return lines
}
