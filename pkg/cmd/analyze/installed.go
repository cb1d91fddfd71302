package analyze

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"

	installcmd "github.com/meshctl/meshctl/pkg/cmd/install"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/profiles"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// installedDir holds, for each built-in profile in the default mesh
// namespace, what renderInstalled makes of it. Rendering a profile through
// kustomize costs more CPU than analyzing a thousand services, and the
// answer only changes with the manifests; TestInstalledMatchesRender renders
// every profile and fails, naming the command that rewrites these files,
// when they are stale.
//
//go:embed installed
var installedDir embed.FS

// installedObjects returns the objects of the install profile that the
// analyzers read (the mesh namespace, its gateways' Deployments and
// Services, its ConfigMaps), as context for files analyzed without a
// cluster: what `meshctl install --profile NAME` would have created is not
// missing. Rendering lives here, not in pkg/analyze, so that the analyzers
// stay free of kustomize.
func installedObjects(profile, meshNamespace string) ([]*config.Resource, error) {
	data, err := installedDir.ReadFile(installedFile(profile))
	if err != nil || meshNamespace != vocab.DefaultMeshNamespace {
		if data, err = renderInstalled(profile, meshNamespace); err != nil {
			return nil, err
		}
	}
	origin := config.Origin{Source: config.SourceInstall, Path: "profile " + profile}
	rs, errs := config.Parse(origin.Path, data)
	if len(errs) > 0 {
		return nil, fmt.Errorf("profile %s renders an object meshctl cannot read: %v", profile, errs[0])
	}
	for _, r := range rs {
		r.Origin = origin
	}
	return rs, nil
}

func installedFile(profile string) string { return "installed/" + profile + ".json" }

// renderInstalled renders the profile and keeps the objects of kinds the
// config model knows, as a stream of indented JSON documents.
func renderInstalled(profile, meshNamespace string) ([]byte, error) {
	mi, err := profiles.Resolve(profiles.ResolveOptions{Profile: profile, MeshNamespace: meshNamespace})
	if err != nil {
		return nil, cmdutil.WithExitCode(installcmd.SpecExitCode(err), fmt.Errorf("--profile: %w", err))
	}
	m, err := install.Render(mi)
	if err != nil {
		return nil, fmt.Errorf("rendering profile %s: %w", profile, err)
	}
	return installedJSON(m)
}

// installedJSON keeps the objects of m that the config model knows (the
// mesh-wide PeerAuthentication of a STRICT or DISABLE mTLS mode among
// them), as a stream of indented JSON documents.
func installedJSON(m *install.Manifest) ([]byte, error) {
	var buf bytes.Buffer
	for _, o := range m.Objects() {
		if _, ok := config.LookupKind(o.GetAPIVersion(), o.GetKind()); !ok {
			continue // CRDs, RBAC, webhooks: nothing an analyzer reads
		}
		b, err := o.MarshalJSON()
		if err != nil {
			return nil, err
		}
		if buf.Len() > 0 {
			buf.WriteString("---\n")
		}
		if err := json.Indent(&buf, b, "", "  "); err != nil {
			return nil, err
		}
		buf.WriteString("\n")
	}
	return buf.Bytes(), nil
}
