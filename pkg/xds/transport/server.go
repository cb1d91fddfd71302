package transport

import (
	"context"
	"net"
	"time"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// NewGRPCServer returns a gRPC server serving ADS (state of the world and
// delta) and the per-type discovery services from views, reporting to
// status. There is no admission rate limit: a stream costs little until it
// asks for something, and each view is translated once however many clients
// share it, so a thousand clients reconnecting at once are served as fast as
// the machine can, in the order they arrive (gRPC's own stream handling).
func NewGRPCServer(ctx context.Context, views *Views, status *Status, opts ...grpc.ServerOption) *grpc.Server {
	gs := grpc.NewServer(append(ServerOptions(), opts...)...)
	Register(ctx, gs, views, status)
	return gs
}

// ServerOptions are what a gRPC server carrying xDS needs: many streams and
// keepalives that notice dead proxies. The TLS server of :15012, which also
// carries the CA, is built with them.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(1 << 20),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
}

// Register adds the discovery services, serving views, to gs; their streams
// end when ctx does.
func Register(ctx context.Context, gs grpc.ServiceRegistrar, views *Views, status *Status) {
	srv := serverv3.NewServer(ctx, views, status, sotw.WithOrderedADS())
	discovery.RegisterAggregatedDiscoveryServiceServer(gs, srv)
	clusterservice.RegisterClusterDiscoveryServiceServer(gs, srv)
	endpointservice.RegisterEndpointDiscoveryServiceServer(gs, srv)
	listenerservice.RegisterListenerDiscoveryServiceServer(gs, srv)
	routeservice.RegisterRouteDiscoveryServiceServer(gs, srv)
}

// Serve serves gs on lis until ctx ends, then stops it gracefully.
func Serve(ctx context.Context, gs *grpc.Server, lis net.Listener) error {
	go func() {
		<-ctx.Done()
		gs.Stop()
	}()
	return gs.Serve(lis)
}
