// Package proto holds the wire protocol between kubetrail and its output
// plugins: output.proto and the Go code generated from it. Plugin authors in
// Go use plugins/sdk instead; authors in other languages generate their stubs
// from output.proto (see plugins/README.md).
//
// Regenerating needs protoc, protoc-gen-go v1.36.12 and protoc-gen-go-grpc
// v1.6.2 on PATH; CI does not regenerate, it builds the checked-in code.
package proto

//go:generate protoc -I . --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative output.proto
