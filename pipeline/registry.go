package pipeline

import (
	"fmt"
	"sort"
	"sync"
)

// Registry maps a component type name ("file", "auditlog") to its factory.
// Built-in components register in init(); registering a name twice panics,
// so two plugins can never silently shadow each other.
type Registry[F any] struct {
	mu        sync.RWMutex
	factories map[string]F
}

// Register adds a factory under name. It panics if name is taken.
func (r *Registry[F]) Register(name string, f F) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.factories[name]; dup {
		panic(fmt.Sprintf("component type %q registered twice", name))
	}
	if r.factories == nil {
		r.factories = make(map[string]F)
	}
	r.factories[name] = f
}

// Lookup returns the factory registered under name.
func (r *Registry[F]) Lookup(name string) (F, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.factories[name]
	return f, ok
}

// Names lists the registered names, sorted.
func (r *Registry[F]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
