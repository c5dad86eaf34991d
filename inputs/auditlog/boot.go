package auditlog

import (
	"os"
	"strings"
)

// bootID names the running kernel's boot on Linux
// (/proc/sys/kernel/random/boot_id): while it is the same, the page cache
// a killed agent wrote to is still there. "" elsewhere, or when it cannot
// be read: then nothing is taken on trust from before a crash.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	id := strings.TrimSpace(string(b))
	if id == "" || strings.ContainsAny(id, " \n") || len(id) > 64 {
		return ""
	}
	return id
}
