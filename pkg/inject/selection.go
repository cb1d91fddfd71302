package inject

import "github.com/meshctl/meshctl/pkg/vocab"

// SystemNamespaces are never injected, whatever their labels: the
// Kubernetes system namespaces and the mesh namespace itself.
func SystemNamespaces(meshNamespace string) []string {
	out := []string{"kube-system", "kube-public", "kube-node-lease"}
	if meshNamespace != "" {
		out = append(out, meshNamespace)
	}
	return out
}

// NamespaceRevision is the revision whose injector takes every pod of a
// namespace with these labels, "" if none does (pods may still opt in).
func NamespaceRevision(labels map[string]string) string {
	for _, k := range vocab.NamespaceInjectionLabels {
		if v, ok := labels[k]; ok {
			if v == vocab.NamespaceInjectionEnabled {
				return vocab.DefaultRevision
			}
			return ""
		}
	}
	for _, k := range vocab.NamespaceRevisionLabels {
		if v, ok := labels[k]; ok {
			return v
		}
	}
	return ""
}

// namespaceUnlabelled: no injection or revision label at all, the only
// namespaces where a pod's own labels decide.
func namespaceUnlabelled(labels map[string]string) bool {
	for _, k := range []string{vocab.NamespaceLabelInjection, vocab.IstioNamespaceLabelInjection, vocab.NamespaceLabelRevision, vocab.IstioNamespaceLabelRevision} {
		if _, ok := labels[k]; ok {
			return false
		}
	}
	return true
}

// PodRevision is the revision whose injection webhook receives a new pod
// with podLabels in a namespace with nsLabels, "" if none. The webhook
// selectors (pkg/webhookconfig) are built to match it exactly, and analyze
// asks it instead of reading labels itself. System namespaces are the
// caller's business (SystemNamespaces).
func PodRevision(nsLabels, podLabels map[string]string) string {
	for _, k := range []string{vocab.LabelInject, vocab.IstioLabelInject} {
		if podLabels[k] == "false" {
			return ""
		}
	}
	if rev := NamespaceRevision(nsLabels); rev != "" || !namespaceUnlabelled(nsLabels) {
		return rev
	}
	if v, ok := podLabels[vocab.NamespaceLabelRevision]; ok {
		return v
	}
	if podLabels[vocab.LabelInject] == "true" {
		return vocab.DefaultRevision
	}
	if _, ok := podLabels[vocab.LabelInject]; !ok && podLabels[vocab.IstioLabelInject] == "true" {
		return vocab.DefaultRevision
	}
	return ""
}
