// Package cloudwatch implements the "cloudwatch" output: audit events as log
// events in Amazon CloudWatch Logs (PutLogEvents), one event's raw JSON per
// log event, timestamped with its stageTimestamp. It owns the mapping of a
// batch onto requests within the API's limits (events and bytes per request,
// chronological order, 24-hour span, per-event size), the creation of the log
// group and streams, and the classification of the API's errors into the
// delivery loop's verdicts.
package cloudwatch
