// mkv1 wrote testdata/v1-buffer.tar.gz: a buffer directory in segment
// format version 1, written by the buffer package of main at 655b82b (before
// format version 2). To regenerate, run it in a checkout of that commit:
// go run ./cmd/mkv1 DIR (this file copied to cmd/mkv1), then tar the files.
package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"

	"github.com/kubetrail/kubetrail/pipeline/buffer"
)

// payload is pipeline/buffer's test payload(i).
func payload(i int) []byte {
	p := make([]byte, 24+(i*7919)%400)
	binary.LittleEndian.PutUint64(p, uint64(i))
	for j := 8; j < len(p); j++ {
		p[j] = byte(i + j)
	}
	return p
}

func main() {
	dir := os.Args[1]
	b, err := buffer.Open(buffer.Options{Dir: dir, MaxBytes: 8 << 20, SegmentBytes: 64 << 10, Fsync: buffer.FsyncAlways, Cursors: []string{"a", "b"}})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	const n = 500
	for i := 0; i < n; i += 10 {
		var recs [][]byte
		for j := i; j < i+10; j++ {
			recs = append(recs, payload(j))
		}
		if err := b.Append(ctx, recs, nil); err != nil {
			panic(err)
		}
	}
	c, err := b.Cursor("a")
	if err != nil {
		panic(err)
	}
	recs, err := c.Next(ctx, 120, 0)
	if err != nil || len(recs) != 120 {
		panic(fmt.Sprint(err, len(recs)))
	}
	if err := c.Commit(recs[119].End); err != nil {
		panic(err)
	}
	if err := b.Close(); err != nil {
		panic(err)
	}
	fmt.Println("cursor a committed after record 119 at", recs[119].End, "stats", b.Stats().Segments)
}
