// Package redact implements the "redact" processor: it replaces the
// credential values kube-apiserver writes into audit events at Request and
// RequestResponse level (Secret data and stringData in bodies, patches of
// every kind, SecretLists and the last-applied-configuration annotation;
// TokenRequest and TokenReview tokens; user-configured fields of other
// resources) with a fixed marker or an HMAC, before the event reaches the
// buffer. Keys stay; values go. Events of other resources are not decoded.
package redact
