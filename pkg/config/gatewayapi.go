package config

import gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

// ObjectRef is the object a Gateway API reference (parentRef, backendRef,
// certificateRef) points at, with the defaults the API gives omitted
// fields: the referring object's namespace, and the group and kind of the
// reference's type.
type ObjectRef struct {
	Group, Kind, Namespace, Name string
}

// IsService reports whether the reference is to a core Service.
func (r ObjectRef) IsService() bool { return r.Group == "" && r.Kind == "Service" }

// IsGateway reports whether the reference is to a Gateway API Gateway.
func (r ObjectRef) IsGateway() bool { return r.Group == GroupGatewayAPI && r.Kind == "Gateway" }

// String is "Service default/reviews", "Gateway.gateway.networking.k8s.io infra/web".
func (r ObjectRef) String() string {
	k := r.Kind
	if r.Group != "" {
		k += "." + r.Group
	}
	return k + " " + r.Namespace + "/" + r.Name
}

func refOf(group *gatewayv1.Group, kind *gatewayv1.Kind, ns *gatewayv1.Namespace, name gatewayv1.ObjectName,
	defGroup, defKind, defNamespace string) ObjectRef {
	r := ObjectRef{Group: defGroup, Kind: defKind, Namespace: defNamespace, Name: string(name)}
	if group != nil {
		r.Group = string(*group)
	}
	if kind != nil {
		r.Kind = string(*kind)
	}
	if ns != nil && *ns != "" {
		r.Namespace = string(*ns)
	}
	// The core group is written "" or, by some, "core".
	if r.Group == "core" {
		r.Group = ""
	}
	return r
}

// ParentRefOf resolves a route's parentRef: a Gateway of the route's
// namespace unless it says otherwise.
//
// A Service parent (a mesh route, GAMMA) written without a group is the
// core Service, as Istio's own samples write it, though the CRD would
// default the group to the Gateway API's.
func ParentRefOf(p gatewayv1.ParentReference, routeNamespace string) ObjectRef {
	if p.Group == nil && p.Kind != nil && *p.Kind == "Service" {
		return refOf(p.Group, p.Kind, p.Namespace, p.Name, "", "Service", routeNamespace)
	}
	return refOf(p.Group, p.Kind, p.Namespace, p.Name, GroupGatewayAPI, "Gateway", routeNamespace)
}

// BackendRefOf resolves a backendRef (or a mirror's backendRef): a Service
// of the route's namespace unless it says otherwise.
func BackendRefOf(b gatewayv1.BackendObjectReference, routeNamespace string) ObjectRef {
	return refOf(b.Group, b.Kind, b.Namespace, b.Name, "", "Service", routeNamespace)
}

// SecretRefOf resolves a listener's certificateRef: a Secret of the
// Gateway's namespace unless it says otherwise.
func SecretRefOf(s gatewayv1.SecretObjectReference, gatewayNamespace string) ObjectRef {
	return refOf(s.Group, s.Kind, s.Namespace, s.Name, "", "Secret", gatewayNamespace)
}
