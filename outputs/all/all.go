// Package all links every built-in output into the binary that imports it.
package all

import (
	_ "github.com/kubetrail/kubetrail/outputs/cloudwatch"    // "cloudwatch"
	_ "github.com/kubetrail/kubetrail/outputs/elasticsearch" // "elasticsearch"
	_ "github.com/kubetrail/kubetrail/outputs/file"          // "file"
	_ "github.com/kubetrail/kubetrail/outputs/kafka"         // "kafka"
	_ "github.com/kubetrail/kubetrail/outputs/splunkhec"     // "splunk_hec"
	_ "github.com/kubetrail/kubetrail/outputs/stdout"        // "stdout"
	_ "github.com/kubetrail/kubetrail/plugins/host"          // "plugin"
)
