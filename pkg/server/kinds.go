package server

import "github.com/meshctl/meshctl/pkg/config"

// WatchedKinds are the kinds the server watches, cluster-wide except the
// mesh ConfigMap. The RBAC of the installed server grants list and watch on
// exactly these (manifests/server; TestRBACMatchesWatchedKinds).
var WatchedKinds = []config.Kind{
	config.KindService, config.KindEndpointSlice, config.KindPod, config.KindNamespace,
	config.KindVirtualService, config.KindDestinationRule, config.KindGateway, config.KindServiceEntry,
	config.KindSidecar, config.KindWorkloadEntry, config.KindPeerAuthentication, config.KindAuthorizationPolicy,
}
