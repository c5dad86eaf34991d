// Package splunkhec implements the "splunk_hec" output: events to a Splunk
// HTTP Event Collector (/services/collector/event) as concatenated JSON
// envelopes, gzip-compressed, with optional indexer acknowledgement
// (/services/collector/ack). It owns the envelope, the request splitting
// (max_bytes; 413; a 400 naming bad events), the mapping of HEC's answers to
// delivery verdicts, the ack polling and the channel GUID kept in the state
// directory. Batching, retries and dead-lettering are the delivery loop's.
package splunkhec
