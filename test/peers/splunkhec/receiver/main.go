// Command kubetrail-hec-receiver is the Splunk HEC peer of kubetrail's tests:
// an OpenTelemetry Collector made of the contrib splunk_hec receiver (the
// HEC implementation Splunk maintains), its ack extension and the
// bearertokenauth extension (scheme "Splunk"), plus two small test components
// defined here:
//
//   - the "recordfile" exporter writes every log record it receives as one
//     JSON line (event, time, host, source, sourcetype, index, fields, and the
//     request's channel and Content-Encoding) to a file the tests read back;
//   - the "indexer" extension stands in front of the ack extension like
//     Splunk's indexers do: records that came with a channel are held in
//     memory and written to the file only when their request is acknowledged,
//     index_delay after the 200. Killing the receiver in between loses them,
//     which is what indexer acknowledgement exists for.
//
// It is a module of its own so the agent's go.mod does not carry the
// collector's dependency tree. test/peers/splunkhec/start.sh builds and runs it.
package main

import (
	"log"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/splunkhecreceiver"
)

func factories() (otelcol.Factories, error) {
	hec := splunkhecreceiver.NewFactory()
	auth := bearertokenauthextension.NewFactory()
	idx := newIndexerFactory()
	rec := newRecordFileFactory()
	return otelcol.Factories{
		Receivers:  map[component.Type]receiver.Factory{hec.Type(): hec},
		Extensions: map[component.Type]extension.Factory{auth.Type(): auth, idx.Type(): idx},
		Exporters:  map[component.Type]exporter.Factory{rec.Type(): rec},
		Telemetry:  otelconftelemetry.NewFactory(),
	}, nil
}

func main() {
	set := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "kubetrail-hec-receiver", Description: "Splunk HEC test peer", Version: "test"},
		Factories: factories,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},
				DefaultScheme:     "file",
			},
		},
	}
	if err := otelcol.NewCommand(set).Execute(); err != nil {
		log.Fatal(err)
	}
}
