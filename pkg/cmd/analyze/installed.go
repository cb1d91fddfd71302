package analyze

import (
	"bytes"
	"fmt"

	installcmd "github.com/meshctl/meshctl/pkg/cmd/install"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/profiles"
)

// installedObjects renders the install profile and returns the objects of
// it that the analyzers read (the mesh namespace, its gateways' Deployments
// and Services, its ConfigMaps), as context for files analyzed without a
// cluster: what `meshctl install --profile NAME` would have created is not
// missing. Rendering lives here, not in pkg/analyze, so that the analyzers
// stay free of kustomize.
func installedObjects(profile, meshNamespace string) ([]*config.Resource, error) {
	mi, err := profiles.Resolve(profiles.ResolveOptions{Profile: profile, MeshNamespace: meshNamespace})
	if err != nil {
		return nil, cmdutil.WithExitCode(installcmd.SpecExitCode(err), fmt.Errorf("--profile: %w", err))
	}
	m, err := install.Render(mi)
	if err != nil {
		return nil, fmt.Errorf("rendering profile %s: %w", profile, err)
	}
	var buf bytes.Buffer
	for _, o := range m.Objects() {
		if _, ok := config.LookupKind(o.GetAPIVersion(), o.GetKind()); !ok {
			continue // CRDs, RBAC, webhooks: nothing an analyzer reads
		}
		b, err := o.MarshalJSON()
		if err != nil {
			return nil, err
		}
		buf.Write(b)
		buf.WriteString("\n---\n")
	}
	origin := config.Origin{Source: config.SourceInstall, Path: "profile " + profile}
	rs, errs := config.Parse(origin.Path, buf.Bytes())
	if len(errs) > 0 {
		return nil, fmt.Errorf("profile %s renders an object meshctl cannot read: %v", profile, errs[0])
	}
	for _, r := range rs {
		r.Origin = origin
	}
	return rs, nil
}
