package server

import (
	"os"
	"testing"
)

// TestMain lets BenchmarkPush1000Streams run its xDS clients in a child
// process (this test binary again), so that the heap it reports is the
// server's alone.
func TestMain(m *testing.M) {
	if addr := os.Getenv(benchClientsEnv); addr != "" {
		os.Exit(runBenchClients(addr, os.Stdout))
	}
	os.Exit(runTests(m))
}
