package transport

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshctl/meshctl/pkg/xds/generate"
)

// Metrics are the server's Prometheus collectors.
type Metrics struct {
	Pushes      *prometheus.CounterVec
	PushLatency *prometheus.HistogramVec
	Connected   *prometheus.GaugeVec
	NACKs       *prometheus.CounterVec
	Translation prometheus.Histogram
	Problems    *prometheus.GaugeVec
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshctl_xds_pushes_total", Help: "xDS responses sent, by resource type.",
		}, []string{"type"}),
		PushLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "meshctl_xds_push_latency_seconds", Help: "Time from publishing a new version of a resource type until a client was sent it.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"type"}),
		Connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meshctl_xds_connected_proxies", Help: "Connected xDS clients, by kind (grpc, sidecar, router).",
		}, []string{"kind"}),
		NACKs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshctl_xds_nacks_total", Help: "Responses rejected by clients, by type and reason (first line, truncated).",
		}, []string{"type", "reason"}),
		Translation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "meshctl_translation_seconds", Help: "Time to translate a config snapshot into the resources of the affected views.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		Problems: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meshctl_translation_problems", Help: "Config objects that could not be translated (left out) or that a kind of client cannot be sent as written (what it gets instead is logged), by object.",
		}, []string{"object"}),
	}
	reg.MustRegister(m.Pushes, m.PushLatency, m.Connected, m.NACKs, m.Translation, m.Problems)
	return m
}

// TypeStatus is the state of one resource type on one stream.
type TypeStatus struct {
	Sent      string    `json:"sent,omitempty"`
	Acked     string    `json:"acked,omitempty"`
	Nacked    string    `json:"nacked,omitempty"`
	NackError string    `json:"nackError,omitempty"`
	SentAt    time.Time `json:"sentAt,omitempty"`
	// Names the client asked for; empty for a wildcard subscription.
	Names []string `json:"names,omitempty"`
}

// ProxyStatus is what syncz reports for one connected client.
type ProxyStatus struct {
	ID        string                 `json:"id"`
	Kind      ClientKind             `json:"kind"`
	Namespace string                 `json:"namespace"`
	View      string                 `json:"view"`
	Delta     bool                   `json:"delta,omitempty"`
	Connected time.Time              `json:"connected"`
	Types     map[string]*TypeStatus `json:"types"`
}

// Status tracks every stream for syncz and the metrics; it is the server's
// go-control-plane Callbacks.
type Status struct {
	metrics *Metrics
	views   *Views
	// OnNACK, if set, is called for every rejected response.
	OnNACK func(p ProxyStatus, typeURL, message string)

	mu      sync.Mutex
	streams map[streamID]*ProxyStatus
}

// streamID names a stream: go-control-plane numbers state-of-the-world and
// delta streams each from 1, so an id alone would mix two proxies up (and
// the view of the first to leave would never be dropped).
type streamID struct {
	id    int64
	delta bool
}

var _ serverv3.Callbacks = (*Status)(nil)

// NewStatus returns a tracker reporting into m.
func NewStatus(m *Metrics, views *Views) *Status {
	return &Status{metrics: m, views: views, streams: map[streamID]*ProxyStatus{}}
}

// Proxies returns the state of every connected client, sorted by id.
func (s *Status) Proxies() []ProxyStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ProxyStatus, 0, len(s.streams))
	for _, p := range s.streams {
		if p.ID == "" {
			continue
		}
		c := *p
		c.Types = map[string]*TypeStatus{}
		for t, ts := range p.Types {
			cp := *ts
			c.Types[t] = &cp
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *Status) open(id streamID) {
	s.mu.Lock()
	s.streams[id] = &ProxyStatus{Connected: time.Now(), Delta: id.delta, Types: map[string]*TypeStatus{}}
	s.mu.Unlock()
}

func (s *Status) closed(id streamID) {
	s.mu.Lock()
	p := s.streams[id]
	delete(s.streams, id)
	last := p != nil && p.View != ""
	if last {
		for _, o := range s.streams {
			if o.View == p.View {
				last = false
				break
			}
		}
	}
	s.mu.Unlock()
	if p != nil && p.ID != "" && s.metrics != nil {
		s.metrics.Connected.WithLabelValues(string(p.Kind)).Dec()
	}
	if last && p.Kind != KindGRPC && s.views != nil {
		// A proxy's own view is rebuilt if it comes back; namespace views of
		// gRPC clients are cheap and shared, keep them.
		s.views.Drop(p.View)
	}
}

// request records what a client said about one type: the node on the first
// request, then ACKs (a nonce without error) and NACKs (error_detail set).
func (s *Status) request(id streamID, node *core.Node, typeURL, version, nonce string, names []string, errMsg string) {
	s.mu.Lock()
	p := s.streams[id]
	if p == nil {
		s.mu.Unlock()
		return
	}
	newNode := false
	if p.ID == "" && node != nil {
		n := ParseNode(node)
		p.ID, p.Kind, p.Namespace, p.View = n.ID, n.Kind, n.Namespace, n.ViewKey()
		newNode = true
	}
	ts := p.Types[typeURL]
	if ts == nil {
		ts = &TypeStatus{}
		p.Types[typeURL] = ts
	}
	ts.Names = names
	nack := errMsg != ""
	if nack {
		ts.Nacked, ts.NackError = ts.Sent, errMsg
	} else if nonce != "" {
		if version == "" {
			// Delta requests carry no version: the nonce acknowledges
			// the last response.
			version = ts.Sent
		}
		ts.Acked = version
		if version == ts.Sent {
			ts.Nacked, ts.NackError = "", ""
		}
	}
	snapshot := *p
	s.mu.Unlock()
	if s.metrics != nil {
		if newNode {
			s.metrics.Connected.WithLabelValues(string(p.Kind)).Inc()
		}
		if nack {
			s.metrics.NACKs.WithLabelValues(generate.ShortType(typeURL), reason(errMsg)).Inc()
		}
	}
	if nack && s.OnNACK != nil {
		s.OnNACK(snapshot, typeURL, errMsg)
	}
}

// reason keeps the NACK label bounded: the first line, at most 100 bytes,
// with resource names (which vary) left in since they say what broke.
func reason(msg string) string {
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 100 {
		msg = msg[:100]
	}
	return msg
}

func (s *Status) response(id streamID, typeURL, version string) {
	s.mu.Lock()
	p := s.streams[id]
	var view string
	if p != nil {
		ts := p.Types[typeURL]
		if ts == nil {
			ts = &TypeStatus{}
			p.Types[typeURL] = ts
		}
		ts.Sent, ts.SentAt = version, time.Now()
		view = p.View
	}
	s.mu.Unlock()
	if s.metrics == nil {
		return
	}
	short := generate.ShortType(typeURL)
	s.metrics.Pushes.WithLabelValues(short).Inc()
	if s.views != nil && view != "" {
		if v := s.views.Get(view); v != nil {
			if at, ok := v.publishedAt(typeURL, version); ok {
				s.metrics.PushLatency.WithLabelValues(short).Observe(time.Since(at).Seconds())
			}
		}
	}
}

// OnStreamOpen implements sotw.Callbacks.
func (s *Status) OnStreamOpen(_ context.Context, id int64, _ string) error {
	s.open(streamID{id, false})
	return nil
}

// OnStreamClosed implements sotw.Callbacks.
func (s *Status) OnStreamClosed(id int64, _ *core.Node) { s.closed(streamID{id, false}) }

// OnStreamRequest implements sotw.Callbacks.
func (s *Status) OnStreamRequest(id int64, r *discovery.DiscoveryRequest) error {
	s.request(streamID{id, false}, r.GetNode(), r.GetTypeUrl(), r.GetVersionInfo(), r.GetResponseNonce(), r.GetResourceNames(), r.GetErrorDetail().GetMessage())
	return nil
}

// OnStreamResponse implements sotw.Callbacks.
func (s *Status) OnStreamResponse(_ context.Context, id int64, _ *discovery.DiscoveryRequest, r *discovery.DiscoveryResponse) {
	s.response(streamID{id, false}, r.GetTypeUrl(), r.GetVersionInfo())
}

// OnDeltaStreamOpen implements delta.Callbacks.
func (s *Status) OnDeltaStreamOpen(_ context.Context, id int64, _ string) error {
	s.open(streamID{id, true})
	return nil
}

// OnDeltaStreamClosed implements delta.Callbacks.
func (s *Status) OnDeltaStreamClosed(id int64, _ *core.Node) { s.closed(streamID{id, true}) }

// OnStreamDeltaRequest implements delta.Callbacks.
func (s *Status) OnStreamDeltaRequest(id int64, r *discovery.DeltaDiscoveryRequest) error {
	s.request(streamID{id, true}, r.GetNode(), r.GetTypeUrl(), "", r.GetResponseNonce(), r.GetResourceNamesSubscribe(), r.GetErrorDetail().GetMessage())
	return nil
}

// OnStreamDeltaResponse implements delta.Callbacks.
func (s *Status) OnStreamDeltaResponse(id int64, _ *discovery.DeltaDiscoveryRequest, r *discovery.DeltaDiscoveryResponse) {
	s.response(streamID{id, true}, r.GetTypeUrl(), r.GetSystemVersionInfo())
}

// OnFetchRequest implements rest.Callbacks.
func (s *Status) OnFetchRequest(context.Context, *discovery.DiscoveryRequest) error { return nil }

// OnFetchResponse implements rest.Callbacks.
func (s *Status) OnFetchResponse(*discovery.DiscoveryRequest, *discovery.DiscoveryResponse) {}
