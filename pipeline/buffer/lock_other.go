//go:build !unix || solaris || illumos || aix

package buffer

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir only creates dir/LOCK: there is no flock on this platform.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open buffer lock: %w", err)
	}
	return f, nil
}
