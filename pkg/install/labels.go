package install

// Labels and names that identify what an install created. They are the one
// place other commands (dashboard, verify-install, proxy-status, uninstall)
// learn how to find a component, so they never guess label values.
const (
	// LabelPartOf marks every object meshctl installs.
	LabelPartOf = "app.kubernetes.io/part-of"
	// PartOfValue is the value of LabelPartOf.
	PartOfValue = "meshctl"
	// LabelComponent names the component an object belongs to (see Component*).
	LabelComponent = "meshctl.io/component"
	// LabelRevision is the control-plane revision; "default" when none is given.
	LabelRevision = "meshctl.io/revision"
	// LabelInstall is the install name the inventory and prune are keyed by.
	LabelInstall = "meshctl.io/install"
	// LabelApp is the conventional app label pods carry, as upstream addon
	// charts and Istio do (app=grafana, app=prometheus, ...).
	LabelApp = "app"
)

// Component names, used in LabelComponent and in ✔ progress lines.
const (
	ComponentBase           = "base"
	ComponentServer         = "server"
	ComponentIngressGateway = "ingress-gateway"
	ComponentEgressGateway  = "egress-gateway"
	ComponentPrometheus     = "prometheus"
	ComponentGrafana        = "grafana"
	ComponentJaeger         = "jaeger"
	ComponentKiali          = "kiali"
	ComponentZipkin         = "zipkin"
)

// DefaultRevision is the revision of an install made without --revision.
const DefaultRevision = "default"

// Addon describes how to reach an addon's web UI once installed.
type Addon struct {
	Component string // value of LabelComponent on its pods
	Port      int    // container port of the UI
	Path      string // path of the UI's landing page
}

// Addons lists the addons with a web UI, by component name.
var Addons = map[string]Addon{
	ComponentGrafana:    {Component: ComponentGrafana, Port: 3000, Path: "/"},
	ComponentPrometheus: {Component: ComponentPrometheus, Port: 9090, Path: "/"},
	ComponentJaeger:     {Component: ComponentJaeger, Port: 16686, Path: "/"},
	ComponentKiali:      {Component: ComponentKiali, Port: 20001, Path: "/kiali"},
	ComponentZipkin:     {Component: ComponentZipkin, Port: 9411, Path: "/zipkin"},
}

// Ports of the control plane and the sidecar that debug dashboards reach.
const (
	ServerDebugPort    = 15014 // meshctl server: /debug, /metrics, ControlZ
	ServerControlZPort = 9876
	ProxyAdminPort     = 15000 // Envoy admin, bound to localhost in the pod
)
