package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// ReadyFunc says whether the pod's proxy (or gRPC bootstrap) is ready, and
// if not, why.
type ReadyFunc func(ctx context.Context) error

// EnvoyReady asks Envoy's admin /ready, which answers 200 once Envoy has
// its first configuration from the control plane and is serving.
func EnvoyReady(adminURL string) ReadyFunc {
	return func(ctx context.Context) error {
		code, body, err := get(ctx, http.DefaultClient, adminURL+"/ready")
		if err != nil {
			return fmt.Errorf("Envoy admin is not answering: %v", err)
		}
		if code != http.StatusOK {
			return fmt.Errorf("Envoy is not ready: %d %s", code, strings.TrimSpace(string(body)))
		}
		return nil
	}
}

// HealthHandler serves /healthz/ready (the proxy container's readiness
// probe, port 15021).
func HealthHandler(ready ReadyFunc) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz/ready", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// AgentOptions configure the agent's port 15020: merged metrics and the
// rewritten app probes.
type AgentOptions struct {
	// EnvoyStatsURL is Envoy's /stats/prometheus; empty without Envoy.
	EnvoyStatsURL string
	// AppScrape are the app's original prometheus.io annotations
	// (scrape, port, path), as the injector saved them.
	AppScrape map[string]string
	// Probers are the app's original probes by agent path
	// (vocab.AppHealthPath), as the injector saved them.
	Probers map[string]inject.Prober
	// PodPorts resolve named probe ports.
	PodPorts []corev1.ContainerPort
	// AppHost is where the app is reached for probes and metrics
	// (127.0.0.1: inside the pod, and never redirected).
	AppHost string
	Client  *http.Client
}

// AgentHandler serves /stats/prometheus (app and Envoy metrics in one
// scrape) and /app-health/<container>/<kind> (the app probes).
func AgentHandler(o AgentOptions) http.Handler {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if o.AppHost == "" {
		o.AppHost = "127.0.0.1"
	}
	mux := http.NewServeMux()
	mux.HandleFunc(vocab.PrometheusMergedPath, func(w http.ResponseWriter, r *http.Request) {
		var out bytes.Buffer
		var errs []string
		scrape := func(what, url string) {
			code, body, err := get(r.Context(), o.Client, url)
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("status %d", code)
			}
			if err != nil {
				errs = append(errs, what+": "+err.Error())
				return
			}
			out.Write(body)
			if len(body) > 0 && body[len(body)-1] != '\n' {
				out.WriteByte('\n')
			}
		}
		if u := o.appMetricsURL(); u != "" {
			scrape("app", u)
		}
		if o.EnvoyStatsURL != "" {
			scrape("envoy", o.EnvoyStatsURL)
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		if len(errs) > 0 && out.Len() == 0 {
			http.Error(w, strings.Join(errs, "; "), http.StatusServiceUnavailable)
			return
		}
		// A part that failed is left out rather than failing the scrape:
		// Prometheus then still sees the rest.
		_, _ = w.Write(out.Bytes())
	})
	mux.HandleFunc("/app-health/", func(w http.ResponseWriter, r *http.Request) {
		p, ok := o.Probers[r.URL.Path]
		if !ok {
			http.Error(w, "no app probe is registered at "+r.URL.Path, http.StatusNotFound)
			return
		}
		code, err := o.probe(r.Context(), p)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(code)
	})
	return mux
}

func (o AgentOptions) appMetricsURL() string {
	if o.AppScrape[vocab.AnnotationPrometheusScrape] == "false" {
		return ""
	}
	port := o.AppScrape[vocab.AnnotationPrometheusPort]
	if port == "" {
		return ""
	}
	path := o.AppScrape[vocab.AnnotationPrometheusPath]
	if path == "" {
		path = "/metrics"
	}
	return "http://" + net.JoinHostPort(o.AppHost, port) + path
}

// port resolves a probe's port, named or numbered.
func (o AgentOptions) port(p intstr.IntOrString) (string, error) {
	if p.Type != intstr.String {
		return strconv.Itoa(p.IntValue()), nil
	}
	for _, cp := range o.PodPorts {
		if cp.Name == p.StrVal {
			return strconv.Itoa(int(cp.ContainerPort)), nil
		}
	}
	return "", fmt.Errorf("the probe names port %q, which no container declares", p.StrVal)
}

// probe runs the app's original probe and returns the status to answer the
// kubelet with: the app's own for HTTP (2xx and 3xx pass, as the kubelet
// counts them), 200 for a TCP connection that opened.
func (o AgentOptions) probe(ctx context.Context, p inject.Prober) (int, error) {
	timeout := time.Duration(p.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case p.HTTPGet != nil:
		g := p.HTTPGet
		port, err := o.port(g.Port)
		if err != nil {
			return 0, err
		}
		host := g.Host
		if host == "" {
			host = o.AppHost
		}
		scheme := strings.ToLower(string(g.Scheme))
		if scheme == "" {
			scheme = "http"
		}
		path := g.Path
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, port)+path, nil)
		if err != nil {
			return 0, err
		}
		for _, h := range g.HTTPHeaders {
			if strings.EqualFold(h.Name, "host") {
				req.Host = h.Value
				continue
			}
			req.Header.Add(h.Name, h.Value)
		}
		req.Header.Set("User-Agent", "kube-probe/meshctl-agent")
		resp, err := o.Client.Do(req)
		if err != nil {
			return 0, fmt.Errorf("app probe %s: %v", req.URL, err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return 0, fmt.Errorf("app probe %s: status %d", req.URL, resp.StatusCode)
		}
		return resp.StatusCode, nil
	case p.TCPSocket != nil:
		t := p.TCPSocket
		port, err := o.port(t.Port)
		if err != nil {
			return 0, err
		}
		host := t.Host
		if host == "" {
			host = o.AppHost
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
		if err != nil {
			return 0, fmt.Errorf("app probe tcp %s: %v", net.JoinHostPort(host, port), err)
		}
		c.Close()
		return http.StatusOK, nil
	}
	return 0, fmt.Errorf("the saved probe has neither httpGet nor tcpSocket")
}

func get(ctx context.Context, c *http.Client, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, b, err
}

// ParseProbers reads the injector's MESH_APP_PROBERS value.
func ParseProbers(s string) (map[string]inject.Prober, error) {
	out := map[string]inject.Prober{}
	if s == "" {
		return out, nil
	}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("%s is not the injector's JSON map of probes: %v", vocab.EnvAppProbers, err)
	}
	return out, nil
}

// ParsePodPorts reads the injector's MESH_POD_PORTS value.
func ParsePodPorts(s string) ([]corev1.ContainerPort, error) {
	var out []corev1.ContainerPort
	if s == "" {
		return nil, nil
	}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("%s is not the injector's JSON list of ports: %v", vocab.EnvPodPorts, err)
	}
	return out, nil
}

// ParseScrape reads the injector's MESH_PROMETHEUS_ANNOTATIONS value.
func ParseScrape(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("%s is not the injector's JSON map of annotations: %v", vocab.EnvPrometheusScrape, err)
	}
	return out, nil
}
