// Package all links every built-in input into the binary that imports it.
package all

import (
	_ "github.com/kubetrail/kubetrail/inputs/auditlog" // "auditlog"
)
