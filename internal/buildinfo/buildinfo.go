// Package buildinfo holds what the binary knows about its own build, for the
// components that report it (the enrich processor's agent version).
package buildinfo

// Version is the agent's version: cmd/agent sets it from its -ldflags
// "-X main.version=..." at start; "dev" in tests and unversioned builds.
var Version = "dev"
