// Package auditfields owns the fast extraction of the few fields of an
// audit.k8s.io/v1 Event the agent routes, filters and keys on (auditID,
// stage, verb, user, objectRef, responseStatus.code, ...) from its raw JSON,
// without decoding the rest. It depends on nothing but the standard library.
package auditfields
