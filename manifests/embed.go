// Package manifests holds the kustomize bases and components meshctl
// installs, and the built-in profiles. They are compiled into the binary so
// that an install needs nothing but meshctl itself.
package manifests

import "embed"

//go:generate go run ../hack/gencrds -o base/crds.json
//go:generate go run ../hack/genschema -o openapi.json

// FS holds every base, component, addon and profile under this directory,
// and the OpenAPI schema kustomize merges patches of their kinds with.
//
//go:embed base components server gateways addons profiles openapi.json
var FS embed.FS
