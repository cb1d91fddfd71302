// Package initgc keeps Go's garbage collector off while the packages of the
// meshctl binary initialise. Their initialisation (Kubernetes' and Istio's
// type registrations, the Envoy API's descriptors) allocates about 4.5 MB,
// just past the 4 MB heap at which Go runs its first collection, so every
// command, `meshctl version` included, paid a collection of memory that is
// all still in use: about a fifth of its process time.
//
// Only cmd/meshctl imports it, for this effect. pkg/cmd/root sets the
// collector's pacing for the command that runs (cmdutil.AnnotationLongRunning)
// before running it, which also turns the collector back on. A pacing chosen
// by the user with GOGC is left alone, here and there.
package initgc

import (
	"os"
	"runtime/debug"
)

// A package-level variable rather than an init function, as only variable
// initialisation runs early enough: Go initialises packages in the order of
// their import paths, each once its own imports are done, so this runs
// right after the standard library packages it needs and before the heavy
// dependencies (which sort after it or wait for Protocol Buffers).
// cmd/meshctl's TestStartupInitStaysLight checks that no collection runs.
var _ = func() bool {
	if os.Getenv("GOGC") != "" {
		return false
	}
	debug.SetGCPercent(-1)
	return true
}()
