package filter

import "unsafe"

// bytesToString views b as a string without copying; b must not change
// while the string is in use (an event's Raw never changes during Process).
func bytesToString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
