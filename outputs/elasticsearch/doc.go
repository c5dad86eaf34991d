// Package elasticsearch implements the "elasticsearch" output: audit events
// sent with the bulk API (op_type create, a stable _id per auditID+stage) to
// Elasticsearch 8 or OpenSearch 2, with per-item verdicts and an index
// template that keeps arbitrary Kubernetes objects from exploding the mapping.
package elasticsearch
