// Package version holds the build information of the meshctl binary. The
// Makefile sets the variables with -ldflags -X.
package version

import (
	"runtime"
	"runtime/debug"
)

var (
	version   = "v0.0.0-dev"
	gitCommit = ""
	buildDate = ""
)

// Info is the build information printed by `meshctl version`.
type Info struct {
	Version   string `json:"version"`
	GitCommit string `json:"gitCommit,omitempty"`
	BuildDate string `json:"buildDate,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the build information of the running binary.
func Get() Info {
	commit := gitCommit
	if commit == "" {
		// `go build` without the Makefile still records the VCS revision
		// when it is available.
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					commit = s.Value
				}
			}
		}
	}
	return Info{
		Version:   version,
		GitCommit: commit,
		BuildDate: buildDate,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
}
