package config

import (
	"strings"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// DefaultDomain is the cluster DNS domain Service hosts live under.
const DefaultDomain = vocab.DefaultDNSDomain

// Hosts resolves host names as they are written in mesh config (the hosts of
// VirtualServices, DestinationRules, Sidecars, destinations) into the fully
// qualified names services are known by, the way the mesh reads them:
//
//   - "reviews" is a Service of the namespace of the object that names it:
//     reviews.<ns>.svc.<domain>;
//   - "reviews.bookinfo", when bookinfo is a known namespace, and
//     "reviews.bookinfo.svc" are Services too: reviews.bookinfo.svc.<domain>;
//   - anything else ("ratings.bookinfo.svc.cluster.local", "api.example.com",
//     "*.example.com", "*") is already a full name or a wildcard.
//
// Names are compared in lower case, without a trailing dot.
type Hosts struct {
	// Domain is the cluster domain; "" means DefaultDomain.
	Domain string
	// namespaces are the known namespaces, for the "name.namespace" form.
	namespaces map[string]bool
}

// NewHosts returns the host resolution of the objects of r: a two-label
// name "a.b" is a Service when b is a namespace r knows (a Namespace object
// or any object in it). domain "" is DefaultDomain.
func NewHosts(r Reader, domain string) *Hosts {
	h := &Hosts{Domain: domain, namespaces: map[string]bool{}}
	if r != nil {
		for _, ns := range r.Namespaces() {
			h.namespaces[ns] = true
		}
	}
	return h
}

func (h *Hosts) domain() string {
	if h == nil || h.Domain == "" {
		return DefaultDomain
	}
	return h.Domain
}

// ServiceHost is the name of the Service name in namespace ns.
func (h *Hosts) ServiceHost(name, ns string) string {
	return strings.ToLower(name) + "." + ns + ".svc." + h.domain()
}

// Resolve returns the full name of host as written in an object of
// namespace ns.
func (h *Hosts) Resolve(host, ns string) string {
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if name == "" || strings.HasPrefix(name, "*") {
		return name
	}
	// Counted rather than split: every destination of every route is
	// resolved, and the labels themselves are not needed.
	dots := strings.Count(name, ".")
	switch {
	case dots == 0:
		if ns == "" {
			return name
		}
		return name + "." + ns + ".svc." + h.domain()
	case dots == 1 && h != nil && h.namespaces[name[strings.IndexByte(name, '.')+1:]]:
		return name + ".svc." + h.domain()
	case dots == 2 && strings.HasSuffix(name, ".svc"):
		return name + "." + h.domain()
	}
	return name
}

// IsWildcard reports whether a resolved host is a wildcard ("*", "*.x").
func IsWildcard(host string) bool { return strings.HasPrefix(host, "*") }

// HostMatches reports whether the resolved host is named by pattern, a
// resolved host or wildcard: "*" matches everything, "*.example.com" every
// name ending in ".example.com".
func HostMatches(host, pattern string) bool {
	if host == pattern || pattern == "*" {
		return true
	}
	if !IsWildcard(pattern) {
		return false
	}
	return strings.HasSuffix(host, pattern[1:])
}

// HostsOverlap reports whether two resolved hosts or wildcards can name the
// same host.
func HostsOverlap(a, b string) bool {
	return HostMatches(a, b) || HostMatches(b, a)
}

// MoreSpecific orders wildcards as the mesh tries them: longer (more
// specific) first, then by name.
func MoreSpecific(a, b string) bool {
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a < b
}
