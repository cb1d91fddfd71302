// Package manifests holds the kustomize bases and components meshctl
// installs, and the built-in profiles. They are compiled into the binary so
// that an install needs nothing but meshctl itself.
package manifests

import "embed"

//go:generate go run ../hack/gencrds -o base/crds.json

// FS holds every base, component, addon and profile under this directory.
//
//go:embed base components server gateways addons profiles
var FS embed.FS
