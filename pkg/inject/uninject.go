package inject

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// Uninject removes what Inject added, using the status annotation, and
// returns the template as it was before injection. A template without the
// annotation is returned unchanged (false).
func Uninject(w Workload, tmpl *corev1.PodTemplateSpec) (*corev1.PodTemplateSpec, bool, error) {
	raw, ok := tmpl.Annotations[vocab.AnnotationStatus]
	if !ok {
		return tmpl, false, nil
	}
	var st Status
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return nil, false, fmt.Errorf("%s: annotation %s is not valid JSON (%v); it was changed after injection, remove the sidecar by hand", w, vocab.AnnotationStatus, err)
	}
	out := tmpl.DeepCopy()

	var probers map[string]Prober
	for _, c := range append(append([]corev1.Container(nil), out.Spec.Containers...), out.Spec.InitContainers...) {
		if c.Name != vocab.ProxyContainerName {
			continue
		}
		for _, e := range c.Env {
			if e.Name == vocab.EnvAppProbers && e.Value != "" {
				if err := json.Unmarshal([]byte(e.Value), &probers); err != nil {
					return nil, false, fmt.Errorf("%s: env %s of %s is not valid JSON: %v", w, vocab.EnvAppProbers, vocab.ProxyContainerName, err)
				}
			}
		}
	}
	out.Spec.InitContainers = removeNamed(out.Spec.InitContainers, st.InitContainers)
	out.Spec.Containers = removeNamed(out.Spec.Containers, st.Containers)
	keep := out.Spec.Volumes[:0:0]
	for _, v := range out.Spec.Volumes {
		if !contains(st.Volumes, v.Name) {
			keep = append(keep, v)
		}
	}
	out.Spec.Volumes = keep
	if len(out.Spec.Volumes) == 0 {
		out.Spec.Volumes = nil
	}
	// The user's own proxy containers go back where they were, in the
	// order of their positions, so that each index is right when used.
	for _, o := range st.Overrides {
		list := &out.Spec.Containers
		if o.List == listInitContainers {
			list = &out.Spec.InitContainers
		}
		i := min(max(o.Index, 0), len(*list))
		*list = append((*list)[:i:i], append([]corev1.Container{o.Container}, (*list)[i:]...)...)
	}
	if len(out.Spec.InitContainers) == 0 {
		out.Spec.InitContainers = nil
	}

	for i := range out.Spec.Containers {
		c := &out.Spec.Containers[i]
		if !contains(st.GRPCAgentContainers, c.Name) {
			continue
		}
		c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == vocab.EnvGRPCXDSBootstrap })
		c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == vocab.VolumeEnvoy || m.Name == vocab.VolumeData })
		if len(c.Env) == 0 {
			c.Env = nil
		}
		if len(c.VolumeMounts) == 0 {
			c.VolumeMounts = nil
		}
	}
	for _, rp := range st.RewrittenProbes {
		name, kind, _ := strings.Cut(rp, "/")
		orig, ok := probers[vocab.AppHealthPath(name, kind)]
		if !ok {
			return nil, false, fmt.Errorf("%s: the original %s probe of container %q is missing from %s; restore it by hand", w, kind, name, vocab.EnvAppProbers)
		}
		for i := range out.Spec.Containers {
			c := &out.Spec.Containers[i]
			if c.Name != name {
				continue
			}
			var p *corev1.Probe
			switch kind {
			case "livez":
				p = c.LivenessProbe
			case "readyz":
				p = c.ReadinessProbe
			case "startupz":
				p = c.StartupProbe
			}
			if p != nil {
				p.HTTPGet, p.TCPSocket = orig.HTTPGet, orig.TCPSocket
			}
		}
	}
	restore := func(m *map[string]string, prev map[string]*string) {
		for k, v := range prev {
			if v == nil {
				delete(*m, k)
			} else {
				(*m)[k] = *v
			}
		}
	}
	delete(out.Annotations, vocab.AnnotationStatus)
	restore(&out.Annotations, st.Annotations)
	restore(&out.Labels, st.Labels)
	if len(out.Annotations) == 0 {
		out.Annotations = nil
	}
	if len(out.Labels) == 0 {
		out.Labels = nil
	}
	return out, true, nil
}

func removeNamed(cs []corev1.Container, names []string) []corev1.Container {
	out := cs[:0:0]
	for _, c := range cs {
		if !contains(names, c.Name) {
			out = append(out, c)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
