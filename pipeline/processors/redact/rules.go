package redact

import (
	"fmt"
	"strings"
)

// lastApplied is the annotation kubectl's client-side apply writes: the whole
// object as a JSON string, Secret values included.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// target is a resource whose objects carry credentials, and where in them.
type target struct {
	group, resource, subresource string
	// paths are field paths inside the object (requestObject, responseObject
	// or a list item). A "*" segment matches every key or item.
	paths [][]string
	// base64 marks targets whose values are base64 (a Secret's data): the
	// HMAC is taken over the decoded value, so data and stringData holding
	// the same value hash alike.
	base64Paths map[string]bool
	// lastApplied redacts the same paths inside the last-applied-configuration
	// annotation.
	lastApplied bool
	name        string // for the annotation listing what was redacted
}

// builtinTargets are the places kube-apiserver writes credentials into audit
// events at Request and RequestResponse level.
func builtinTargets() []*target {
	return []*target{
		{
			// Secret and SecretList: create, update, get, list, delete, patch.
			group: "", resource: "secrets",
			paths:       [][]string{{"data"}, {"stringData"}},
			base64Paths: map[string]bool{"data": true},
			lastApplied: true,
			name:        "secrets",
		},
		{
			// TokenRequest: the issued token is in the response's status.
			group: "", resource: "serviceaccounts", subresource: "token",
			paths: [][]string{{"status", "token"}},
			name:  "serviceaccounts/token",
		},
		{
			// TokenReview: the reviewed bearer token is in spec, both ways.
			group: "authentication.k8s.io", resource: "tokenreviews",
			paths: [][]string{{"spec", "token"}},
			name:  "tokenreviews",
		},
	}
}

// Rule is a user-configured redaction: for objects of one resource (a CRD
// that carries credentials, a field used for bearer tokens), the field paths
// whose values are replaced.
type Rule struct {
	// Group is the API group ("" for the core group), e.g. "db.example.com".
	Group string `yaml:"group"`
	// Resource is the plural resource, optionally with a subresource:
	// "databases" or "databases/credentials".
	Resource string `yaml:"resource"`
	// Paths are dotted field paths inside the object, e.g. "spec.password"
	// or "spec.users.*.token" ("*" matches every key or list item). The value
	// at a path is redacted whole: keys of a map stay, every value goes.
	Paths []string `yaml:"paths"`
}

func (r Rule) validate() error {
	if strings.TrimSpace(r.Resource) == "" {
		return fmt.Errorf("resource is required")
	}
	if strings.Count(r.Resource, "/") > 1 {
		return fmt.Errorf("resource %q: use resource or resource/subresource", r.Resource)
	}
	if len(r.Paths) == 0 {
		return fmt.Errorf("paths: at least one field path is required")
	}
	for _, p := range r.Paths {
		for _, s := range strings.Split(p, ".") {
			if s == "" {
				return fmt.Errorf("paths: %q has an empty segment", p)
			}
		}
	}
	return nil
}

func (r Rule) target() *target {
	res, sub, _ := strings.Cut(r.Resource, "/")
	t := &target{group: r.Group, resource: res, subresource: sub, name: r.Resource}
	if r.Group != "" {
		t.name = r.Group + "/" + r.Resource
	}
	for _, p := range r.Paths {
		t.paths = append(t.paths, strings.Split(p, "."))
	}
	return t
}
