// Package peertest decides whether a test that needs a real peer (Kafka,
// OpenSearch, a Splunk HEC receiver, moto, kube-apiserver) runs. The peers
// are started by the scripts in test/peers/, which print `export K=V` lines;
// .ci/run evaluates them before `go test`, so tests read the peer's address
// from the environment.
//
// On a laptop without the peer the test skips and says how to start it; under
// CI (CI=true) a missing peer is a failure, never a skip.
package peertest

import (
	"os"
	"strconv"
	"testing"
)

// Require returns the value of the environment variable envVar, which the
// peer's start script exports. When it is unset the test is skipped, or
// failed when running under CI.
func Require(tb testing.TB, peer, envVar string) string {
	tb.Helper()
	if v := os.Getenv(envVar); v != "" {
		return v
	}
	msg := peer + " is not running (" + envVar + " is unset): start it with `eval \"$(test/peers/" + peer + "/start.sh)\"`"
	if InCI() {
		tb.Fatal("CI=true: " + msg)
	}
	tb.Skip(msg)
	return ""
}

// InCI reports whether the tests run under CI (CI=true), where every peer
// must be up.
func InCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}
