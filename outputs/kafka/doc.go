// Package kafka implements the "kafka" output: each audit event is one Kafka
// record (value: the event's raw JSON; key: its auditID by default; headers:
// stage, verb and an optional cluster name), produced with
// github.com/segmentio/kafka-go and acknowledged per record.
package kafka
