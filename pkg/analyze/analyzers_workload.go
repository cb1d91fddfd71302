package analyze

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/vocab"
)

var sidecarAnalyzers = []*Analyzer{
	{
		Code: "MSH0501", Name: "SidecarSelectorMatchesNothing", Level: Warning,
		Doc:    "A Sidecar resource's workloadSelector matches no workload in its namespace.",
		Inputs: kinds(k(config.KindSidecar), workloadKinds),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindSidecar, "") {
				sc := r.Sidecar()
				if sc.WorkloadSelector == nil || len(sc.WorkloadSelector.Labels) == 0 || !c.hasWorkloads(r.Namespace) {
					continue
				}
				if len(c.matching(r.Namespace, sc.WorkloadSelector.Labels)) == 0 {
					c.ReportLevel(c.selectorLevel(), r, "spec.workloadSelector", "fix the labels to match the pods it should configure",
						"Sidecar workloadSelector %q matches no workload in namespace %s%s", selectorString(sc.WorkloadSelector.Labels), r.Namespace, c.noWorkloadNote())
				}
			}
		},
	},
	{
		Code: "MSH0502", Name: "ConflictingSidecars", Level: Error,
		Doc:    "A namespace has several Sidecar resources without workloadSelector, or several whose selectors match the same workload.",
		Inputs: kinds(k(config.KindSidecar), workloadKinds),
		Run: func(c *Context) {
			for _, ns := range c.Store.Namespaces() {
				scs := c.Store.List(config.KindSidecar, ns)
				var global []*config.Resource
				claimed := map[*config.Resource]*config.Resource{}
				for _, r := range scs {
					sc := r.Sidecar()
					if sc.WorkloadSelector == nil || len(sc.WorkloadSelector.Labels) == 0 {
						if len(global) > 0 {
							c.Report(r, "metadata.name", "keep one Sidecar without workloadSelector per namespace",
								"namespace %s already has the Sidecar %s without workloadSelector", ns, global[0].Name)
						}
						global = append(global, r)
						continue
					}
					for _, w := range c.matching(ns, sc.WorkloadSelector.Labels) {
						if o, ok := claimed[w.res]; ok {
							c.Report(r, "spec.workloadSelector", "make the selectors match disjoint workloads",
								"%s %s/%s is also selected by Sidecar %s", w.res.Kind, ns, w.res.Name, o.Name)
							break
						}
						claimed[w.res] = r
					}
				}
			}
		},
	},
	{
		Code: "MSH0503", Name: "SidecarEgressHostNotFound", Level: Warning,
		Doc:    "A Sidecar egress host names a namespace or service that does not exist.",
		Inputs: k(config.KindSidecar, config.KindService, config.KindServiceEntry, config.KindNamespace),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindSidecar, "") {
				for i, e := range r.Sidecar().Egress {
					for j, h := range e.Hosts {
						ns, host, ok := strings.Cut(h, "/")
						if !ok {
							continue // a schema error
						}
						p := field("spec.egress[%d].hosts[%d]", i, j)
						switch ns {
						case "*", "~":
							continue
						case ".":
							ns = r.Namespace
						}
						if c.knowsNamespaces() && !c.namespaceExists(ns) {
							c.Report(r, p, "correct the namespace or create it", "egress host %q: namespace %q does not exist", h, ns)
							continue
						}
						if host == "*" || strings.HasPrefix(host, "*") {
							continue
						}
						if len(c.lookupHost(host, ns)) == 0 {
							c.Report(r, p, "correct the host or create its Service or ServiceEntry", "egress host %q not found", h)
						}
					}
				}
			}
		},
	},
}

// protocolOf derives a port's protocol from appProtocol or the name prefix
// (http-web → http), "" when neither says.
func protocolOf(p corev1.ServicePort) string {
	if p.AppProtocol != nil && *p.AppProtocol != "" {
		return strings.ToLower(*p.AppProtocol)
	}
	name := strings.ToLower(p.Name)
	for _, proto := range knownProtocols {
		if name == proto || strings.HasPrefix(name, proto+"-") {
			return proto
		}
	}
	return ""
}

var knownProtocols = []string{"grpc-web", "http2", "https", "http", "grpc", "tcp", "tls", "mongo", "mysql", "redis", "udp"}

var serviceAnalyzers = []*Analyzer{
	{
		Code: "MSH0601", Name: "PortNameNotProtocol", Level: Info,
		Doc:    "A Service port has neither appProtocol nor a name starting with its protocol (http, http2, grpc, tcp, tls, …), so the mesh treats it as opaque TCP and has no HTTP metrics for it.",
		Inputs: k(config.KindService),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindService, "") {
				if inSystemNamespace(r.Namespace, c.opts.RootNamespace) || r.Namespace == "default" && r.Name == "kubernetes" ||
					r.Service().Spec.Type == corev1.ServiceTypeExternalName {
					continue // an ExternalName Service's port names are MSH0607's
				}
				for i, p := range r.Service().Spec.Ports {
					if protocolOf(p) != "" {
						continue
					}
					c.Report(r, field("spec.ports[%d]", i), "name it <protocol>[-suffix] (http-web, grpc, tcp-db) or set appProtocol",
						"port %d name %q does not follow the <protocol>[-suffix] naming convention", p.Port, p.Name)
				}
			}
		},
	},
	{
		Code: "MSH0602", Name: "WorkloadWithoutService", Level: Warning,
		Doc:    "A Deployment or StatefulSet is selected by no Service, so the mesh cannot route to it.",
		Inputs: k(config.KindDeployment, config.KindStatefulSet, config.KindService),
		Run: func(c *Context) {
			for _, kind := range []config.Kind{config.KindDeployment, config.KindStatefulSet} {
				for _, r := range c.Store.List(kind, "") {
					if inSystemNamespace(r.Namespace, c.opts.RootNamespace) || c.fileOnly() && !c.inputHas(config.KindService, r.Namespace) {
						continue
					}
					if len(servicesSelecting(c, r)) > 0 {
						continue
					}
					c.Report(r, config.PodTemplatePath(kind)+".metadata.labels", "create a Service whose selector matches the pod labels",
						"%s %s/%s is not selected by any Service", kind, r.Namespace, r.Name)
				}
			}
		},
	},
	{
		Code: "MSH0603", Name: "ServicesConflictingPorts", Level: Warning,
		Doc:    "A workload is selected by several Services that give the same target port different protocols.",
		Inputs: k(config.KindDeployment, config.KindStatefulSet, config.KindService),
		Run: func(c *Context) {
			for _, kind := range []config.Kind{config.KindDeployment, config.KindStatefulSet} {
				for _, r := range c.Store.List(kind, "") {
					svcs := servicesSelecting(c, r)
					if len(svcs) < 2 {
						continue
					}
					type use struct{ proto, svc string }
					seen := map[int32]use{}
					reported := false
					for _, s := range svcs {
						for _, p := range s.Service().Spec.Ports {
							target := p.TargetPort.IntVal
							if target == 0 {
								target = p.Port
							}
							proto := protocolOf(p)
							if proto == "" {
								proto = "tcp"
							}
							if u, ok := seen[target]; ok && u.proto != proto && !reported {
								c.Report(r, "metadata.name", "give the port the same protocol in every Service that selects the workload",
									"target port %d is %s in Service %s but %s in Service %s", target, u.proto, u.svc, proto, s.Name)
								reported = true
							}
							seen[target] = use{proto, s.Name}
						}
					}
				}
			}
		},
	},
	{
		Code: "MSH0604", Name: "ExternalNameWithoutServiceEntry", Level: Warning,
		Doc:    "An ExternalName Service points at a host that no ServiceEntry describes, so the mesh sends its traffic out as opaque TCP without policy.",
		Inputs: k(config.KindService, config.KindServiceEntry),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindService, "") {
				svc := r.Service()
				if svc.Spec.Type != corev1.ServiceTypeExternalName || svc.Spec.ExternalName == "" {
					continue
				}
				found := false
				for _, e := range c.lookupHost(svc.Spec.ExternalName, r.Namespace) {
					if e.Resource.Kind == config.KindServiceEntry {
						found = true
					}
				}
				if !found {
					c.Report(r, "spec.externalName", fmt.Sprintf("add a ServiceEntry with host %s and its ports", svc.Spec.ExternalName),
						"ExternalName %q has no ServiceEntry", svc.Spec.ExternalName)
				}
			}
		},
	},
	{
		Code: "MSH0605", Name: "AppRunsAsProxyUID", Level: Warning,
		Doc:    fmt.Sprintf("An app container runs as user ID %d, the proxy's: its traffic is never redirected through the sidecar, so mesh policy and mTLS do not apply to it.", vocab.ProxyUID),
		Inputs: workloadKinds,
		Run: func(c *Context) {
			for _, w := range c.workloads("") {
				if inSystemNamespace(w.res.Namespace, c.opts.RootNamespace) {
					continue // the mesh's own gateways run as the proxy
				}
				var podUID *int64
				if sc := w.tmpl.Spec.SecurityContext; sc != nil {
					podUID = sc.RunAsUser
				}
				for i, ct := range w.tmpl.Spec.Containers {
					if proxyContainer(ct.Name) {
						continue
					}
					uid := podUID
					if ct.SecurityContext != nil && ct.SecurityContext.RunAsUser != nil {
						uid = ct.SecurityContext.RunAsUser
					}
					if uid == nil || *uid != vocab.ProxyUID {
						continue
					}
					tp := config.PodTemplatePath(w.res.Kind)
					if tp != "" {
						tp += "."
					}
					c.Report(w.res, field("%sspec.containers[%d]", tp, i), fmt.Sprintf("run the container as another user than %d", vocab.ProxyUID),
						"container %q runs as user ID %d, which the mesh reserves for the proxy", ct.Name, vocab.ProxyUID)
				}
			}
		},
	},
	{
		Code: "MSH0606", Name: "ServicesConflictingTargetPorts", Level: Warning,
		Doc:    "Services selecting one workload send different service ports to the same target port; the sidecar configures a target port's inbound traffic once, from one of them.",
		Inputs: k(config.KindDeployment, config.KindStatefulSet, config.KindService),
		Run: func(c *Context) {
			for _, kind := range []config.Kind{config.KindDeployment, config.KindStatefulSet} {
				for _, r := range c.Store.List(kind, "") {
					svcs := servicesSelecting(c, r)
					if len(svcs) < 2 {
						continue
					}
					type use struct {
						port int32
						svc  string
					}
					first := map[string]use{}
					var targets []string
					conflicts := map[string][]string{}
					for _, s := range svcs {
						for _, p := range s.Service().Spec.Ports {
							target := p.TargetPort.String()
							if target == "0" || target == "" {
								target = fmt.Sprint(p.Port)
							}
							u, ok := first[target]
							if !ok {
								first[target] = use{p.Port, s.Name}
								continue
							}
							if u.port == p.Port || u.svc == s.Name {
								continue
							}
							if len(conflicts[target]) == 0 {
								targets = append(targets, target)
								conflicts[target] = []string{fmt.Sprintf("port %d of Service %s", u.port, u.svc)}
							}
							conflicts[target] = append(conflicts[target], fmt.Sprintf("port %d of Service %s", p.Port, s.Name))
						}
					}
					for _, target := range targets {
						c.Report(r, "metadata.name", "make every Service that selects the workload use the same port number for a target port",
							"target port %s of %s %s/%s is the target of %s", target, kind, r.Namespace, r.Name, describe(conflicts[target]))
					}
				}
			}
		},
	},
	{
		Code: "MSH0607", Name: "ExternalNamePortName", Level: Warning,
		Doc:    "A port of an ExternalName Service has no protocol in its name or appProtocol, or is named plain tcp: the mesh forwards it as opaque TCP to the external name, which fails for a port shared by several external services.",
		Inputs: k(config.KindService),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindService, "") {
				svc := r.Service()
				if svc.Spec.Type != corev1.ServiceTypeExternalName || inSystemNamespace(r.Namespace, c.opts.RootNamespace) {
					continue
				}
				for i, p := range svc.Spec.Ports {
					if protocolOf(p) != "" && p.Name != "tcp" {
						continue
					}
					c.Report(r, field("spec.ports[%d]", i), "name the port after the protocol the external service speaks (http-…, https-…, tls-…, grpc-…) or set appProtocol",
						"port %d (name %q) of ExternalName Service for %q names no protocol but TCP: the sidecar may not forward its traffic to %s", p.Port, p.Name, svc.Spec.ExternalName, svc.Spec.ExternalName)
				}
			}
		},
	},
}

// proxyContainer reports the containers the mesh itself runs in a pod.
func proxyContainer(name string) bool {
	return name == vocab.ProxyContainerName || name == vocab.InitContainerName || name == vocab.IstioProxyContainerName
}

var injectionAnalyzers = []*Analyzer{
	{
		Code: "MSH0701", Name: "NamespaceInjectionNotEnabled", Level: Warning,
		Doc:    "A namespace holds mesh routing config (VirtualService, DestinationRule) but is not labelled for injection, so its workloads run without sidecars.",
		Inputs: kinds(k(config.KindNamespace, config.KindVirtualService, config.KindDestinationRule), workloadKinds),
		Run: func(c *Context) {
			for _, n := range c.Store.List(config.KindNamespace, "") {
				ns := n.Name
				if inSystemNamespace(ns, c.opts.RootNamespace) || !c.hasWorkloads(ns) {
					continue
				}
				st, _ := c.namespaceInjection(ns)
				if st != injectionDisabled || explicitlyDisabled(n) {
					continue
				}
				reason := ""
				if l := c.Store.List(config.KindVirtualService, ns); len(l) > 0 {
					reason = fmt.Sprintf("VirtualService %s routes traffic in it", l[0].Name)
				} else if l := c.Store.List(config.KindDestinationRule, ns); len(l) > 0 {
					reason = fmt.Sprintf("DestinationRule %s applies in it", l[0].Name)
				}
				if reason == "" {
					continue
				}
				uninjected := 0
				for _, w := range c.workloads(ns) {
					if has, _ := c.hasProxy(w); !has {
						uninjected++
					}
				}
				if uninjected == 0 {
					continue
				}
				c.Report(n, "metadata.labels", fmt.Sprintf("kubectl label namespace %s %s=enabled, then restart its workloads", ns, vocab.NamespaceLabelInjection),
					"namespace %s is not enabled for sidecar injection, but %s", ns, reason)
			}
		},
	},
	{
		Code: "MSH0702", Name: "PodMissingProxy", Level: Warning,
		Doc:    "A pod of a namespace enabled for injection runs without the sidecar (created before injection was enabled, or the webhook was down).",
		Inputs: k(config.KindNamespace, config.KindPod),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindPod, "") {
				st, _ := c.namespaceInjection(r.Namespace)
				t := r.PodTemplate()
				if st != injectionEnabled || inject.IsInjected(t) || inject.OptedOut(t) != "" {
					continue
				}
				c.Report(r, "spec.containers", "restart its workload (kubectl rollout restart) so that the webhook injects it",
					"pod %s/%s has no %s container although its namespace is enabled for injection", r.Namespace, r.Name, vocab.ProxyContainerName)
			}
		},
	},
	{
		Code: "MSH0703", Name: "ProxyRevisionMismatch", Level: Warning,
		Doc:    "A pod runs a proxy injected for another control-plane revision than its namespace asks for (an old proxy after an upgrade).",
		Inputs: k(config.KindNamespace, config.KindPod),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindPod, "") {
				st, want := c.namespaceInjection(r.Namespace)
				got := proxyRevision(r.PodTemplate())
				if st != injectionEnabled || got == "" || got == want {
					continue
				}
				c.Report(r, "metadata.annotations", "restart its workload (kubectl rollout restart) to get the current proxy",
					"pod %s/%s runs a proxy of revision %q, its namespace asks for %q", r.Namespace, r.Name, got, want)
			}
		},
	},
	{
		Code: "MSH0704", Name: "ConflictingInjectionLabels", Level: Error,
		Doc:    "A namespace carries injection labels that contradict each other (enabled and a revision, or enabled and disabled).",
		Inputs: k(config.KindNamespace),
		Run: func(c *Context) {
			for _, n := range c.Store.List(config.KindNamespace, "") {
				var inj, revs []string
				for _, l := range vocab.NamespaceInjectionLabels {
					if v, ok := n.Labels[l]; ok {
						inj = append(inj, l+"="+v)
					}
				}
				for _, l := range vocab.NamespaceRevisionLabels {
					if v, ok := n.Labels[l]; ok {
						revs = append(revs, l+"="+v)
					}
				}
				vals := map[string]bool{}
				for _, l := range vocab.NamespaceInjectionLabels {
					if v, ok := n.Labels[l]; ok {
						vals[v] = true
					}
				}
				switch {
				case len(vals) > 1:
					c.Report(n, "metadata.labels", "keep one injection label", "namespace %s has contradicting injection labels %s", n.Name, describe(inj))
				case len(inj) > 0 && len(revs) > 0:
					c.Report(n, "metadata.labels", "keep either the injection label or the revision label",
						"namespace %s has both %s and %s", n.Name, describe(inj), describe(revs))
				}
			}
		},
	},
	{
		Code: "MSH0705", Name: "ImageAutoWithoutInjection", Level: Warning,
		Doc:    "A workload has a container with image: auto, which only the injector replaces, but will not be injected (opted out, or its namespace is not enabled): its pods fail to pull the image \"auto\". An Error for a Pod, a Warning for workloads, whose namespace may still be enabled before they roll.",
		Inputs: kinds(k(config.KindNamespace), workloadKinds),
		Run: func(c *Context) {
			for _, w := range c.workloads("") {
				if len(w.res.OwnerReferences) > 0 {
					continue // its owner is reported
				}
				i := autoImageContainer(w.tmpl)
				if i < 0 {
					continue
				}
				if will, known := c.willInject(w); will || !known {
					continue
				}
				level := c.current.Level
				if w.res.Kind == config.KindPod {
					level = Error
				}
				tp := config.PodTemplatePath(w.res.Kind)
				if tp != "" {
					tp += "."
				}
				c.ReportLevel(level, w.res, field("%sspec.containers[%d].image", tp, i),
					fmt.Sprintf("enable injection for namespace %s (kubectl label namespace %s %s=enabled) or remove the opt-out, or set a real image", w.res.Namespace, w.res.Namespace, vocab.NamespaceLabelInjection),
					"container %q has image: auto, but %s %s/%s is not injected, so nothing replaces it", w.tmpl.Spec.Containers[i].Name, w.res.Kind, w.res.Namespace, w.res.Name)
			}
		},
	},
}

func explicitlyDisabled(n *config.Resource) bool {
	for _, l := range vocab.NamespaceInjectionLabels {
		if n.Labels[l] == vocab.NamespaceInjectionDisabled {
			return true
		}
	}
	return false
}

// autoImage is the image a container names to get the injected proxy's.
const autoImage = "auto"

func autoImageContainer(t *corev1.PodTemplateSpec) int {
	for i, ct := range t.Spec.Containers {
		if ct.Image == autoImage {
			return i
		}
	}
	return -1
}

// willInject reports whether the injector will inject the workload's pods
// (or already did), and whether that is known: without a cluster, a
// namespace the files do not define may be enabled.
func (c *Context) willInject(w workload) (will, known bool) {
	for _, k := range vocab.StatusAnnotations {
		if w.tmpl.Annotations[k] != "" {
			return true, true
		}
	}
	if inject.OptedOut(w.tmpl) != "" {
		return false, true
	}
	for _, k := range []string{vocab.LabelInject, vocab.IstioLabelInject} {
		if w.tmpl.Labels[k] == "true" {
			return true, true
		}
	}
	if w.res.Kind == config.KindPod && !w.res.Origin.FromFile() {
		return false, true // admitted without injection: nothing changes it now
	}
	st, _ := c.namespaceInjection(w.res.Namespace)
	return st == injectionEnabled, st != injectionUnknown || c.opts.Cluster
}
