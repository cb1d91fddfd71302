// Package config is meshctl's config model: mesh and Kubernetes resources
// parsed from files, standard input or a live cluster, each with its origin,
// collected in a Store that analyze, validate, config diff, get, the server's
// translation and the validation webhook all read.
//
// # Resources
//
// A Resource is one object. Its Kind (KindVirtualService, KindService, …),
// APIVersion and ObjectMeta are always set. Spec holds the typed content of
// a known kind:
//
//   - mesh kinds (networking.istio.io v1alpha3/v1beta1/v1, security.istio.io
//     v1beta1/v1): the istio.io/api protobuf message of the spec, for example
//     *networkingv1alpha3.VirtualService or *securityv1beta1.AuthorizationPolicy
//     (the v1 and v1beta1 packages of istio.io/api alias these types);
//   - core kinds: the whole k8s.io/api object, for example *corev1.Service or
//     *appsv1.Deployment;
//   - Gateway API kinds (gateway.networking.k8s.io v1, and v1beta1 where the
//     CRDs still serve it): the whole sigs.k8s.io/gateway-api v1 object, for
//     example *gatewayv1.HTTPRoute, decoded strictly like core kinds.
//
// Typed accessors (VirtualService(), Service(), …) return nil for another
// kind. Objects of kinds meshctl does not model keep Spec == nil (Known()
// reports false) so that tools can still list and diff them.
//
// # Origins and lines
//
// Origin says where an object came from: a file (path and the line where its
// document starts), standard input (Path "-") or the cluster. Resource.Line
// returns the line of a field given a path such as "spec.http[0].route[1]",
// from the gopkg.in/yaml.v3 node the object was parsed from; it falls back to
// the nearest parent that exists and to the document line, and is 0 for
// objects from the cluster.
//
// # Parsing
//
// Parse reads one YAML or JSON stream (several documents, "kind: List"
// wrappers). Problems are values, not failures: every document that cannot be
// parsed or decoded becomes a *ParseError with file:line and the other
// documents are still returned. Mesh specs are decoded with protojson and
// unknown fields rejected, the way the API server's schema would reject them;
// a spec protojson rejects is walked against its istio.io/api descriptors
// (schema.go) so that every problem becomes its own ParseError with the
// field's path (ParseError.Field), line, expectation and did-you-mean.
// LoadFiles reads files, directories (recursively on request) and "-" for
// standard input. DefaultNamespace and DefaultNamespaceErrors give objects
// without a namespace the one of -n, as kubectl apply would. JSONOf turns a
// yaml.v3 node into JSON the way Kubernetes reads YAML.
//
// A fast path keeps parsing cheap without changing any result: plain mesh
// specs and metadata are decoded from yaml.v3's node tree directly
// (nodeproto.go). It gives up at anything it does not handle, and the
// document takes the reference way (JSONOf, protojson), which also words
// every error; fuzz tests check both ways agree. YAML itself is always read by
// yaml.v3: a hand-written YAML reader was tried and measured (~30% less CPU
// for analyze of 1,000 services) and removed, because line numbers and YAML's
// corner cases are the library's job.
//
// # Kinds
//
// One table (kinds.go) describes every modelled kind: its group, versions,
// resource name, the typed client object and, for built-in kinds, the
// client-go calls that list and watch it. Parsing (LookupKind), the cluster lister
// (ClusterSource.Load), informers (ClusterSource.ListerWatcher, Informer)
// and FromObject (typed client-go or istio client-go object → Resource) all
// read it. A kind is identified by its group and name (KindInfo.GroupKind).
// Kind names are unique: the Gateway API's Gateway is KindKubernetesGateway,
// "Gateway.gateway.networking.k8s.io", beside Istio's KindGateway
// ("Gateway"), and an unmodelled kind whose name belongs to a modelled kind
// of another group is group-qualified the same way ("Gateway.example.com")
// so it never takes the identity of a modelled one.
//
// # Reading: Reader, Store, Snapshot, LiveStore
//
//	files ──┐
//	        ├─ Store (file wins over cluster) ─┐
//	cluster ┘                                  ├─ Reader (Get, List, Kinds, Namespaces, Len)
//	informers ─ LiveStore ─ Snapshot ──────────┘        │
//	                                            NewRegistry → Registry (hosts, services, routes)
//
// Reader is what every consumer reads; List always returns a new slice and
// Resources are never modified once stored. A Store collects one command's
// input: objects from files override objects from the cluster with the same
// identity whatever the order in which they are added, so that loading the
// cluster and then files answers "what happens if I apply these?"; among
// objects of the same kind of source the last one added wins and the
// replaced one is remembered (Duplicates).
//
// A LiveStore is the server's: informers apply events (Put, Delete, Apply,
// Replace, or the informer Handler) while readers take Snapshots without
// waiting. A Snapshot is immutable and versioned; consecutive snapshots
// share every kind and namespace that did not change (copy on write), so an
// event costs the size of one namespace of one kind, and
// Snapshot.ChangesSince lists the objects (and kinds) that changed between
// two snapshots, so that pushes can be scoped. Subscribe signals changes.
//
// # Hosts and the registry
//
// Hosts is the one host resolution: "reviews", "reviews.ns" (ns a known
// namespace), "reviews.ns.svc" and "reviews.ns.svc.cluster.local" are one
// host, resolved relative to the namespace of the object that names it;
// wildcards ("*.example.com", "*") match by suffix (HostMatches,
// HostsOverlap). Registry, built from any Reader, holds the services
// (Kubernetes Services and ServiceEntry hosts) with their ports and
// protocols (PortProtocol: appProtocol, then the port name prefix),
// exportTo, and endpoints (EndpointSlices with the labels of their pods,
// else the selected pods; WorkloadEntries and inline ServiceEntry
// endpoints). Per host it answers Lookup (what serves a host written in a
// namespace), VirtualServices (bound to "mesh" or a gateway, visible from a
// namespace, in the mesh's order) and DestinationRule (the rules merged:
// first policy, union of subsets); Service.EndpointsFor gives the ready
// endpoints of a port and subset. analyze, config diff and the server read
// hosts only through these.
//
// # Cluster
//
// ClusterSource lists only the kinds and namespaces asked for (big clusters
// have many Secrets and ConfigMaps), using client-go for core kinds and
// CustomResources for mesh and Gateway API kinds: REST clients that decode
// into istio.io/client-go's and the Gateway API's typed objects over a
// scheme of the modelled kinds, built on first use (the generated clientsets
// of those APIs register all their kinds when the process starts, which
// every command would pay). A kind whose CRD is not installed (KindInfo.CRD) lists as
// empty.
package config
