package server

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/ca"
	"github.com/meshctl/meshctl/pkg/server"
	"github.com/meshctl/meshctl/pkg/vocab"
	"github.com/meshctl/meshctl/pkg/webhookconfig"
)

// IdentityOptions are the flags of the server's CA and webhooks.
type IdentityOptions struct {
	SecureGRPCAddress string
	WebhookAddress    string
	Revision          string
	WorkloadCertTTL   time.Duration
	ServingDNSNames   []string
}

func newIdentityOptions() IdentityOptions {
	return IdentityOptions{
		SecureGRPCAddress: server.DefaultSecureGRPCAddress,
		WebhookAddress:    webhookconfig.ListenAddress,
		Revision:          vocab.DefaultRevision,
		WorkloadCertTTL:   ca.DefaultWorkloadTTL,
	}
}

// AddFlags adds the CA and webhook flags.
func (o *IdentityOptions) AddFlags(fl *pflag.FlagSet) {
	fl.StringVar(&o.SecureGRPCAddress, "secure-grpc-address", o.SecureGRPCAddress, "Address of the TLS gRPC server: the CA's certificate service (and xDS over TLS)")
	fl.StringVar(&o.WebhookAddress, "webhook-address", o.WebhookAddress, "Address of the injection and validation webhooks (HTTPS)")
	fl.StringVar(&o.Revision, "revision", o.Revision, "Control-plane revision: its mesh ConfigMap, Service and webhook configurations")
	fl.StringSliceVar(&o.ServingDNSNames, "serving-dns-name", nil, "Another DNS name for the serving certificate of --secure-grpc-address and --webhook-address, besides the Service's (repeatable; e.g. localhost for a server run out of the cluster)")
	fl.DurationVar(&o.WorkloadCertTTL, "workload-cert-ttl", o.WorkloadCertTTL, "Validity of a workload certificate whose request asks for none")
}

// Validate checks the flags.
func (o *IdentityOptions) Validate() error {
	if o.WorkloadCertTTL <= 0 || o.WorkloadCertTTL > ca.DefaultMaxWorkloadTTL {
		return fmt.Errorf("--workload-cert-ttl %s must be positive and at most %s", o.WorkloadCertTTL, ca.DefaultMaxWorkloadTTL)
	}
	return nil
}

// Identity builds the CA and webhooks of the server (loading or creating
// the root); run it with Run next to the xDS server.
func (o *IdentityOptions) Identity(ctx context.Context, kube kubernetes.Interface, meshNamespace string, reg prometheus.Registerer, log logr.Logger) (*server.Identity, error) {
	onError := func(err error) { log.Error(err, "identity") }
	cfg, notFound, err := server.WatchInjectConfig(ctx, kube, meshNamespace, o.Revision, onError)
	if err != nil {
		return nil, err
	}
	if notFound {
		log.Info("no mesh ConfigMap for this revision: injecting with the default config until one appears",
			"namespace", meshNamespace, "configmap", vocab.MeshConfigMapName(o.Revision))
	}
	id := &server.Identity{
		Client: kube, MeshNamespace: meshNamespace, Revision: o.Revision,
		ServiceName: vocab.ServerName(o.Revision), ExtraDNSNames: o.ServingDNSNames,
		InjectConfig: cfg, WorkloadTTL: o.WorkloadCertTTL,
		SecureGRPCAddress: o.SecureGRPCAddress, WebhookAddress: o.WebhookAddress,
		Registry: reg, OnError: onError,
		Leader: leaderElection(kube, meshNamespace, o.Revision, log),
	}
	if err := id.Setup(ctx); err != nil {
		return nil, err
	}
	log.Info("mesh CA loaded", "source", id.CA.Bundle().Source, "roots", len(id.CA.Bundle().Roots))
	return id, nil
}

// leaderElection makes one replica of the revision's servers do the writes;
// the identity is unique per process (two servers run out of the cluster on
// one host must not both lead).
func leaderElection(kube kubernetes.Interface, meshNamespace, revision string, log logr.Logger) *server.LeaderElection {
	host, _ := os.Hostname()
	return &server.LeaderElection{
		Client: kube, Namespace: meshNamespace, Name: vocab.ServerLeaderName(revision),
		Identity: host + "_" + string(uuid.NewUUID()),
		OnChange: func(leading bool) {
			if leading {
				log.Info("leading: this replica publishes the root certificate and patches the webhook configurations", "lease", meshNamespace+"/"+vocab.ServerLeaderName(revision))
			} else {
				log.Info("no longer leading: another replica does the writes", "lease", meshNamespace+"/"+vocab.ServerLeaderName(revision))
			}
		},
	}
}
