//go:build !linux

package app

// releaseStartupPages does nothing outside Linux.
func releaseStartupPages() int64 { return 0 }
