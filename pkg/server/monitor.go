package server

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/meshctl/meshctl/pkg/xds/generate"
	"github.com/meshctl/meshctl/pkg/xds/transport"
)

// Paths of the monitoring endpoints; the CLI (proxy-status, proxy-config)
// reads the debug ones.
const (
	PathReady      = "/ready"
	PathMetrics    = "/metrics"
	PathSyncz      = "/debug/syncz"
	PathConfigDump = "/debug/config_dump"
)

// Syncz is the answer of /debug/syncz.
type Syncz struct {
	Server   string       `json:"server"`
	Proxies  []SynczProxy `json:"proxies"`
	Problems []string     `json:"problems,omitempty"`
}

// SynczProxy is one connected client with, per type, what the server holds
// now next to what it sent and what the client acknowledged.
type SynczProxy struct {
	transport.ProxyStatus
	// Current is the version the server holds for each type of the view.
	Current map[string]string `json:"current"`
}

// ConfigDump is the answer of /debug/config_dump?proxy=ID: what the view of
// the proxy holds, each resource as protojson.
type ConfigDump struct {
	Proxy     transport.ProxyStatus `json:"proxy"`
	Listeners []json.RawMessage     `json:"listeners"`
	Routes    []json.RawMessage     `json:"routes"`
	Clusters  []json.RawMessage     `json:"clusters"`
	Endpoints []json.RawMessage     `json:"endpoints"`
}

// Monitor serves the monitoring port.
type Monitor struct {
	Name     string
	Status   *transport.Status
	Views    *transport.Views
	Pusher   *Pusher
	Gatherer prometheus.Gatherer
	// Ready reports whether the informers synced and a first snapshot is
	// published.
	Ready func() bool
}

// Handler returns the monitoring mux.
func (m *Monitor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(PathReady, func(w http.ResponseWriter, _ *http.Request) {
		if m.Ready != nil && !m.Ready() {
			http.Error(w, "not ready: informers not synced or nothing published yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle(PathMetrics, promhttp.HandlerFor(m.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc(PathSyncz, m.syncz)
	mux.HandleFunc(PathConfigDump, m.configDump)
	return mux
}

func (m *Monitor) syncz(w http.ResponseWriter, _ *http.Request) {
	out := Syncz{Server: m.Name, Proxies: []SynczProxy{}}
	for _, p := range m.Status.Proxies() {
		sp := SynczProxy{ProxyStatus: p, Current: map[string]string{}}
		if v := m.Views.Get(p.View); v != nil {
			for _, t := range generate.Types {
				sp.Current[t] = v.Version(t)
			}
		}
		out.Proxies = append(out.Proxies, sp)
	}
	if m.Pusher != nil {
		out.Problems = m.Pusher.Problems()
	}
	writeJSON(w, out)
}

func (m *Monitor) configDump(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("proxy")
	if id == "" {
		http.Error(w, "missing ?proxy=ID (see /debug/syncz for the connected proxies)", http.StatusBadRequest)
		return
	}
	var found *transport.ProxyStatus
	for _, p := range m.Status.Proxies() {
		if p.ID == id {
			found = &p
			break
		}
	}
	if found == nil {
		http.Error(w, "proxy "+id+" is not connected (see /debug/syncz)", http.StatusNotFound)
		return
	}
	out := ConfigDump{Proxy: *found, Listeners: []json.RawMessage{}, Routes: []json.RawMessage{}, Clusters: []json.RawMessage{}, Endpoints: []json.RawMessage{}}
	if v := m.Views.Get(found.View); v != nil {
		res := v.Resources()
		for typ, dst := range map[string]*[]json.RawMessage{
			generate.ListenerType: &out.Listeners, generate.RouteType: &out.Routes,
			generate.ClusterType: &out.Clusters, generate.EndpointType: &out.Endpoints,
		} {
			for _, name := range res.Names(typ) {
				b, err := protojson.Marshal(res[typ][name])
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				*dst = append(*dst, b)
			}
		}
	}
	writeJSON(w, out)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
