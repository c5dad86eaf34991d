// Package auditpolicy implements the "audit_policy" processor: it applies a
// kube-apiserver audit Policy (audit.k8s.io/v1, the --audit-policy-file
// format) to events already logged, with the apiserver's own rule evaluator
// (k8s.io/apiserver/pkg/audit/policy). The work here is rebuilding the
// request attributes the apiserver evaluated (user, groups, verb, group,
// resource, subresource, namespace, name, non-resource path) from the event,
// then doing what the apiserver does with the rule's verdict: None and
// omitted stages drop the event, Metadata strips requestObject and
// responseObject, Request strips responseObject, omitManagedFields drops
// metadata.managedFields from the bodies. A level above the logged one
// cannot add data: the event keeps what it has.
package auditpolicy
