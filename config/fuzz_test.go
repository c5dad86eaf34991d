package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that no input makes the loader panic, and that a failed
// load always explains itself with *Error values.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("outputs: {o: {<<: [{type: stdout}, 3]}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("testdata/fuzz.yaml", data, fakeComponents())
		if err == nil {
			if cfg == nil || len(cfg.Pipelines) == 0 {
				t.Fatalf("no error but config %+v", cfg)
			}
			return
		}
		for _, e := range flatten(err) {
			ce, ok := e.(*Error)
			if !ok || ce.Msg == "" || !strings.HasPrefix(ce.Error(), "testdata/fuzz.yaml") {
				t.Fatalf("problem %#v is not a well-formed *Error", e)
			}
		}
	})
}
