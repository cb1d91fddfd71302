package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/meshctl/meshctl/pkg/xds/generate"
)

// DebugClient reads a server's debug endpoints (the monitoring port).
type DebugClient struct {
	// BaseURL is "http://host:port".
	BaseURL string
	HTTP    *http.Client
}

func (c *DebugClient) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+path, nil)
	if err != nil {
		return err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("reaching the server's monitoring port: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, v)
}

// Syncz returns the server's view of its connected proxies.
func (c *DebugClient) Syncz(ctx context.Context) (*Syncz, error) {
	var s Syncz
	if err := c.get(ctx, PathSyncz, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ConfigDump returns what the server holds for one proxy.
func (c *DebugClient) ConfigDump(ctx context.Context, proxyID string) (*ConfigDump, error) {
	var d ConfigDump
	if err := c.get(ctx, PathConfigDump+"?proxy="+url.QueryEscape(proxyID), &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Sync states of one resource type of one proxy, as proxy-status shows them.
const (
	StateSynced  = "SYNCED"
	StateNACKed  = "NACKED"
	StateStale   = "STALE"
	StateNotSent = "NOT SENT"
)

// SyncState says whether the proxy holds what the server holds for a type:
// NOT SENT (nothing sent yet, or not subscribed), NACKED (it rejected the
// latest), STALE (sent but not acknowledged, or the server has newer),
// SYNCED.
func (p SynczProxy) SyncState(typeURL string) string {
	ts := p.Types[typeURL]
	switch {
	case ts == nil || ts.Sent == "":
		return StateNotSent
	case ts.NackError != "":
		return StateNACKed
	case ts.Acked != ts.Sent || (p.Current[typeURL] != "" && ts.Sent != p.Current[typeURL]):
		return StateStale
	}
	return StateSynced
}

// TypeOrder is the order proxy-status shows types in (Istio's CDS LDS EDS RDS).
var TypeOrder = []struct{ Short, URL string }{
	{"CDS", generate.ClusterType}, {"LDS", generate.ListenerType}, {"EDS", generate.EndpointType}, {"RDS", generate.RouteType},
}
