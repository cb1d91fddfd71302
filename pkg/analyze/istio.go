package analyze

import (
	"fmt"
	"sort"
	"strings"
)

// IstioCode maps one message code of istioctl analyze to the meshctl
// analyzers that check the same thing, or says why meshctl has none. The
// table is published as docs/analyze-istio-codes.md (a test keeps the two
// equal) and lets --suppress and the suppress annotations take IST codes, so
// that suppressions written for istioctl keep working.
type IstioCode struct {
	Code string // "IST0101"
	Name string // istioctl's message name
	MSH  []string
	// Why there is no MSH code (or what part of the IST check is not
	// covered); empty when MSH covers it.
	Note string
}

const (
	notModelled     = "meshctl does not model %s, so there is nothing to check"
	gatewayAPINote  = "about the Gateway API CRDs installed in a cluster, which analyze does not read; an object of a version the Gateway API v1.6 standard CRDs do not serve is MSH0002"
	telemetryNote   = "Telemetry"
	envoyFilterNote = "EnvoyFilter"
)

// IstioCodes is every message code istioctl analyze has (Istio's
// pkg/config/analysis/msg/messages.yaml; retired codes are left out), by code.
var IstioCodes = []IstioCode{
	{Code: "IST0001", Name: "InternalError", Note: "a failure of meshctl itself is an error message and exit code 1, not a finding"},
	{Code: "IST0002", Name: "Deprecated", MSH: []string{"MSH0003", "MSH0004"}},
	{Code: "IST0101", Name: "ReferencedResourceNotFound", MSH: []string{"MSH0101", "MSH0102", "MSH0103", "MSH0203", "MSH0403", "MSH0404", "MSH0503", "MSH0901", "MSH0903", "MSH0907"}},
	{Code: "IST0102", Name: "NamespaceNotInjected", MSH: []string{"MSH0701"}},
	{Code: "IST0103", Name: "PodMissingProxy", MSH: []string{"MSH0702"}},
	{Code: "IST0106", Name: "SchemaValidationError", MSH: []string{"MSH0001", "MSH0002"}},
	{Code: "IST0107", Name: "MisplacedAnnotation", MSH: []string{"MSH0007"}},
	{Code: "IST0108", Name: "UnknownAnnotation", MSH: []string{"MSH0006"}},
	{Code: "IST0109", Name: "ConflictingMeshGatewayVirtualServiceHosts", MSH: []string{"MSH0106"}, Note: "MSH0106 also covers VirtualServices bound to the same Gateway"},
	{Code: "IST0110", Name: "ConflictingSidecarWorkloadSelectors", MSH: []string{"MSH0502"}},
	{Code: "IST0111", Name: "MultipleSidecarsWithoutWorkloadSelectors", MSH: []string{"MSH0502"}},
	{Code: "IST0112", Name: "VirtualServiceDestinationPortSelectorRequired", MSH: []string{"MSH0108"}},
	{Code: "IST0116", Name: "DeploymentAssociatedToMultipleServices", MSH: []string{"MSH0603"}},
	{Code: "IST0118", Name: "PortNameIsNotUnderNamingConvention", MSH: []string{"MSH0601"}},
	{Code: "IST0123", Name: "NamespaceMultipleInjectionLabels", MSH: []string{"MSH0704"}},
	{Code: "IST0125", Name: "InvalidAnnotation", MSH: []string{"MSH0010"}, Note: "values the injector cannot read, by the injector's own rules; MSH0006 reports annotations meshctl does not read"},
	{Code: "IST0126", Name: "UnknownMeshNetworksServiceRegistry", Note: "meshctl has no meshNetworks (multi-network) configuration"},
	{Code: "IST0127", Name: "NoMatchingWorkloadsFound", MSH: []string{"MSH0405", "MSH0501"}},
	{Code: "IST0128", Name: "NoServerCertificateVerificationDestinationLevel", MSH: []string{"MSH0304"}, Note: "MSH0304 also checks subsets, and accepts insecureSkipVerify: true as a deliberate choice; Info, not Warning: meshctl's proxy checks such a server against the system roots (only a private CA fails)"},
	{Code: "IST0129", Name: "NoServerCertificateVerificationPortLevel", MSH: []string{"MSH0304"}},
	{Code: "IST0130", Name: "VirtualServiceUnreachableRule", MSH: []string{"MSH0105"}},
	{Code: "IST0131", Name: "VirtualServiceIneffectiveMatch", MSH: []string{"MSH0109"}, Note: "HTTP, TCP and TLS routes; an HTTP route shadowed entirely by one earlier route is MSH0105 (IST0130)"},
	{Code: "IST0132", Name: "VirtualServiceHostNotFoundInGateway", MSH: []string{"MSH0110"}},
	{Code: "IST0133", Name: "SchemaWarning", MSH: []string{"MSH0008"}},
	{Code: "IST0134", Name: "ServiceEntryAddressesRequired", MSH: []string{"MSH0803"}, Note: "meshctl has no DNS proxy that allocates addresses (Istio's ISTIO_META_DNS_AUTO_ALLOCATE), so addresses are always needed"},
	{Code: "IST0135", Name: "DeprecatedAnnotation", MSH: []string{"MSH0009"}, Note: "Istio-deprecated annotations meshctl reads and has a replacement for; deprecated ones it does not read are MSH0006"},
	{Code: "IST0136", Name: "AlphaAnnotation", Note: "meshctl documents the annotations it honours; none is experimental"},
	{Code: "IST0137", Name: "DeploymentConflictingPorts", MSH: []string{"MSH0606"}, Note: "Deployments and StatefulSets; MSH0603 covers conflicting protocols"},
	{Code: "IST0138", Name: "GatewayDuplicateCertificate", MSH: []string{"MSH0206"}, Note: "Gateways with equal selectors (istioctl also pairs a selector with its supersets)"},
	{Code: "IST0139", Name: "InvalidWebhook", Note: "webhook configurations are not in analyze's model; the mesh's own are rendered by meshctl install, and meshctl verify-install reports each one, and the server Service they call, missing or not ready"},
	{Code: "IST0140", Name: "IngressRouteRulesNotAffected", MSH: []string{"MSH0112"}, Note: "reported only when the host's DestinationRule has several subsets (one version cannot be bypassed)"},
	{Code: "IST0141", Name: "InsufficientPermissions", Note: "an install check: meshctl precheck reports missing permissions"},
	{Code: "IST0142", Name: "UnsupportedKubernetesVersion", Note: "an install check: meshctl precheck reports the Kubernetes version"},
	{Code: "IST0143", Name: "LocalhostListener", Note: "needs the sockets a running pod listens on, which analyze (config only) does not read"},
	{Code: "IST0144", Name: "InvalidApplicationUID", MSH: []string{"MSH0605"}},
	{Code: "IST0145", Name: "ConflictingGateways", MSH: []string{"MSH0204"}},
	{Code: "IST0146", Name: "ImageAutoWithoutInjectionWarning", MSH: []string{"MSH0705"}, Note: "reported only where injection is known not to happen (opt-out, or a namespace the input shows not enabled)"},
	{Code: "IST0147", Name: "ImageAutoWithoutInjectionError", MSH: []string{"MSH0705"}, Note: "MSH0705 is an Error for Pods"},
	{Code: "IST0148", Name: "NamespaceInjectionEnabledByDefault", Note: "meshctl has no inject-every-namespace-by-default setting"},
	{Code: "IST0149", Name: "JwtClaimBasedRoutingWithoutRequestAuthN", MSH: []string{"MSH0111"}, Note: "without a cluster and without RequestAuthentications in the files, reported at Info"},
	{Code: "IST0150", Name: "ExternalNameServiceTypeInvalidPortName", MSH: []string{"MSH0607"}},
	{Code: "IST0151", Name: "EnvoyFilterUsesRelativeOperation", Note: fmt.Sprintf(notModelled, envoyFilterNote)},
	{Code: "IST0152", Name: "EnvoyFilterUsesReplaceOperationIncorrectly", Note: fmt.Sprintf(notModelled, envoyFilterNote)},
	{Code: "IST0153", Name: "EnvoyFilterUsesAddOperationIncorrectly", Note: fmt.Sprintf(notModelled, envoyFilterNote)},
	{Code: "IST0154", Name: "EnvoyFilterUsesRemoveOperationIncorrectly", Note: fmt.Sprintf(notModelled, envoyFilterNote)},
	{Code: "IST0155", Name: "EnvoyFilterUsesRelativeOperationWithProxyVersion", Note: fmt.Sprintf(notModelled, envoyFilterNote)},
	{Code: "IST0156", Name: "UnsupportedGatewayAPIVersion", Note: gatewayAPINote},
	{Code: "IST0157", Name: "InvalidTelemetryProvider", Note: fmt.Sprintf(notModelled, telemetryNote)},
	{Code: "IST0158", Name: "PodsIstioProxyImageMismatchInNamespace", MSH: []string{"MSH0703"}, Note: "meshctl compares the injected revision, which names the proxy image"},
	{Code: "IST0159", Name: "ConflictingTelemetryWorkloadSelectors", Note: fmt.Sprintf(notModelled, telemetryNote)},
	{Code: "IST0160", Name: "MultipleTelemetriesWithoutWorkloadSelectors", Note: fmt.Sprintf(notModelled, telemetryNote)},
	{Code: "IST0161", Name: "InvalidGatewayCredential", MSH: []string{"MSH0203", "MSH0207"}, Note: "MSH0203: the Secret is missing; MSH0207: it holds no usable certificate and key (missing, not PEM, not a pair, expired)"},
	{Code: "IST0162", Name: "GatewayPortNotDefinedOnService", MSH: []string{"MSH0202"}},
	{Code: "IST0163", Name: "InvalidExternalControlPlaneConfig", Note: "meshctl has no external control plane mode"},
	{Code: "IST0164", Name: "ExternalControlPlaneAddressIsNotAHostname", Note: "meshctl has no external control plane mode"},
	{Code: "IST0165", Name: "ReferencedInternalGateway", Note: "meshctl generates no internal Gateways from Gateway API objects"},
	{Code: "IST0166", Name: "IneffectiveSelector", Note: "meshctl runs no controller that deploys gateways for Gateway API Gateways, so no such gateway pods exist for a policy's selector to miss"},
	{Code: "IST0167", Name: "IneffectivePolicy", MSH: []string{"MSH0407"}, Note: "Istio reports policies on ambient-mode workloads, which meshctl does not have; MSH0407 reports policies and Sidecars that select only workloads without a sidecar"},
	{Code: "IST0168", Name: "UnknownUpgradeCompatibility", Note: "about upgrading istiod's defaults; meshctl install shows what an upgrade changes (manifest diff)"},
	{Code: "IST0169", Name: "UpdateIncompatibility", Note: "about upgrading istiod's defaults; meshctl install shows what an upgrade changes (manifest diff)"},
	{Code: "IST0170", Name: "MultiClusterInconsistentService", Note: "meshctl serves one cluster"},
	{Code: "IST0171", Name: "NegativeConditionStatus", Note: "meshctl server writes no status conditions on mesh objects"},
	{Code: "IST0172", Name: "FutureUnsupportedGatewayAPIVersion", Note: gatewayAPINote},
	{Code: "IST0173", Name: "DestinationRuleSubsetNotSelectPods", MSH: []string{"MSH0302"}},
	{Code: "IST0174", Name: "UnknownDestinationRuleHost", MSH: []string{"MSH0303"}},
	{Code: "IST0175", Name: "JwksUriFetchUnrestricted", Note: "meshctl server fetches no jwksUri (RequestAuthentication keys are not fetched by the control plane), so there is no fetch to restrict"},
	{Code: "IST0176", Name: "GatewayAPICRDVersionBelowMinimum", Note: gatewayAPINote},
	{Code: "IST0177", Name: "ConflictingServiceEntryProtocol", MSH: []string{"MSH0804"}},
}

// istioCodes resolves an IST code, or a glob of them ("IST01*"), to the MSH
// codes that check the same; ok is false when no IST code matches.
func istioCodes(pattern string) (codes []string, ok bool) {
	seen := map[string]bool{}
	for _, ic := range IstioCodes {
		if !glob(strings.ToUpper(pattern), ic.Code) {
			continue
		}
		ok = true
		for _, c := range ic.MSH {
			if !seen[c] {
				seen[c] = true
				codes = append(codes, c)
			}
		}
	}
	sort.Strings(codes)
	return codes, ok
}

func isIstioCode(code string) bool { return strings.HasPrefix(strings.ToUpper(code), "IST") }

// IstioCodesMarkdown renders the table published in the docs.
func IstioCodesMarkdown() string {
	var b strings.Builder
	b.WriteString("# istioctl analyze codes and their meshctl equivalents\n\n")
	b.WriteString("Generated from `pkg/analyze/istio.go` (`UPDATE_GOLDEN=1 go test ./pkg/analyze -run TestIstioCodeTable`).\n")
	b.WriteString("`--suppress` and the suppress annotations (`meshctl.io/analyze-suppress`, `galley.istio.io/analyze-suppress`)\n")
	b.WriteString("accept the IST codes: a suppression of an IST code suppresses the MSH codes of its row.\n")
	b.WriteString("Every message code of Istio's `pkg/config/analysis/msg/messages.yaml` is listed once; retired codes\n")
	b.WriteString("(IST0104, IST0105, IST0113–IST0115, IST0117, IST0119–IST0122, IST0124) are not.\n\n")
	b.WriteString("| IST code | istioctl message | meshctl | notes |\n|---|---|---|---|\n")
	for _, ic := range IstioCodes {
		msh := strings.Join(ic.MSH, ", ")
		if msh == "" {
			msh = "none"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", ic.Code, ic.Name, msh, ic.Note)
	}
	return b.String()
}
