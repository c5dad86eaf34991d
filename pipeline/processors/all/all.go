// Package all imports every built-in processor so that it registers itself.
package all

import (
	_ "github.com/kubetrail/kubetrail/pipeline/processors/auditpolicy" // audit_policy
	_ "github.com/kubetrail/kubetrail/pipeline/processors/enrich"      // enrich
	_ "github.com/kubetrail/kubetrail/pipeline/processors/filter"      // filter
	_ "github.com/kubetrail/kubetrail/pipeline/processors/redact"      // redact
	_ "github.com/kubetrail/kubetrail/pipeline/processors/truncate"    // truncate
)
