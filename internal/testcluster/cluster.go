// Package testcluster runs a real Kubernetes control plane on this machine
// for meshctl's end-to-end tests and for `make demo`: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler built from source by
// hack/cluster/build.sh, plus kwok, which plays the kubelet for fake nodes so
// that pods become Running and Ready and port-forward works without any
// container runtime. Everything listens on 127.0.0.1 on free ports.
package testcluster

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Address ranges of the cluster. The service range is on loopback so that the
// API server can reach webhooks served by local processes listening on a
// Service's ClusterIP; the pod range is an ordinary one, because the API
// server refuses loopback addresses in EndpointSlices.
const (
	ServiceCIDR = "127.100.0.0/16"
	// ServiceAccountIssuer is the iss claim of service-account tokens.
	ServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	PodCIDR              = "10.244.0.0/16"
	// NodeName is the kwok-managed node that pods are scheduled onto.
	NodeName = "kwok-node-0"
	// kwokNodeAnnotation marks the nodes that kwok manages.
	kwokNodeAnnotation = "kwok.x-k8s.io/node"
)

// Options configure Start.
type Options struct {
	// Dir holds certificates, the kubeconfig, logs and etcd's data.
	Dir string
	// Detach starts the processes in their own session so that they outlive
	// the process that started them (`make cluster-up`). Otherwise they die
	// with it, which keeps a crashed test binary from leaking a cluster.
	Detach bool
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Cluster is a running (or connected-to) local cluster.
type Cluster struct {
	Dir        string
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface

	procs []*exec.Cmd
}

// Start builds nothing: it runs the cached binaries (see FindBinaries) and
// returns once a node is Ready and the default ServiceAccount exists.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bins, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	logf := func(format string, args ...any) { fmt.Fprintf(logw, "cluster: "+format+"\n", args...) }
	started := time.Now()

	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"pki", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	c := &Cluster{Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	ok := false
	defer func() {
		// A half-started cluster must not outlive a failed Start.
		if !ok {
			c.Stop()
		}
	}()

	p, err := newPKI(filepath.Join(dir, "pki"))
	if err != nil {
		return nil, err
	}
	loop := []net.IP{net.ParseIP("127.0.0.1")}
	apiIPs := append(loop, net.ParseIP("127.100.0.1"))
	if err := errors.Join(
		p.issue("apiserver", "kube-apiserver", nil,
			[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			apiIPs, x509.ExtKeyUsageServerAuth),
		p.issue("admin", "admin", []string{"system:masters"}, nil, nil, x509.ExtKeyUsageClientAuth),
		p.issue("kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, nil, x509.ExtKeyUsageClientAuth),
		p.issue("kwok", "kwok", nil, []string{"localhost"}, loop, x509.ExtKeyUsageServerAuth),
		p.serviceAccountKeys(),
	); err != nil {
		return nil, fmt.Errorf("generating certificates: %w", err)
	}

	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	etcdPort, peerPort, apiPort, kwokPort := ports[0], ports[1], ports[2], ports[3]

	// etcd's data is throwaway: keep it in memory when /dev/shm exists.
	dataDir := filepath.Join(dir, "etcd-data")
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "meshctl-etcd-"); err == nil {
			dataDir = d
			_ = os.WriteFile(filepath.Join(dir, "etcd-data-dir"), []byte(d), 0o644)
		}
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	logf("starting etcd on %s", etcdURL)
	if err := c.run(opts, "etcd", bins.Etcd,
		"--name=default", "--data-dir="+dataDir,
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--unsafe-no-fsync=true",
		"--log-level=warn",
	); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, http.DefaultClient, etcdURL+"/health", 30*time.Second); err != nil {
		return nil, fmt.Errorf("etcd did not become healthy (see %s): %w", c.logPath("etcd"), err)
	}

	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	logf("starting kube-apiserver on %s", server)
	if err := c.run(opts, "kube-apiserver", bins.APIServer,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(apiPort),
		// The kubernetes Service's endpoints would be on loopback, which the
		// endpoint reconciler rejects forever in the log.
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range="+ServiceCIDR,
		"--client-ca-file="+p.path("ca.crt"),
		"--tls-cert-file="+p.path("apiserver.crt"), "--tls-private-key-file="+p.path("apiserver.key"),
		"--kubelet-client-certificate="+p.path("kubelet-client.crt"), "--kubelet-client-key="+p.path("kubelet-client.key"),
		"--kubelet-certificate-authority="+p.path("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
		"--service-account-key-file="+p.path("sa.pub"),
		"--service-account-signing-key-file="+p.path("sa.key"),
		"--service-account-issuer="+ServiceAccountIssuer,
		"--api-audiences=https://kubernetes.default.svc.cluster.local",
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v=0",
	); err != nil {
		return nil, err
	}

	if err := writeKubeconfig(c.Kubeconfig, server, p); err != nil {
		return nil, err
	}
	if err := c.connect(); err != nil {
		return nil, err
	}
	if err := waitAPIServer(ctx, c.Client, 60*time.Second); err != nil {
		return nil, fmt.Errorf("kube-apiserver did not become ready (see %s): %w", c.logPath("kube-apiserver"), err)
	}
	logf("kube-apiserver ready after %s", time.Since(started).Round(100*time.Millisecond))

	logf("starting kube-controller-manager and kube-scheduler")
	if err := c.run(opts, "kube-controller-manager", bins.ControllerManager,
		"--kubeconfig="+c.Kubeconfig,
		"--authentication-kubeconfig="+c.Kubeconfig, "--authorization-kubeconfig="+c.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port=0",
		"--leader-elect=false",
		"--service-account-private-key-file="+p.path("sa.key"),
		"--root-ca-file="+p.path("ca.crt"),
		"--cluster-signing-cert-file="+p.path("ca.crt"), "--cluster-signing-key-file="+p.path("ca.key"),
		"--service-cluster-ip-range="+ServiceCIDR,
		"--use-service-account-credentials=true",
		// There is no cloud and no real kubelet: these controllers only add noise.
		"--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route,-persistentvolume-binder,-attachdetach,-persistentvolume-expander",
		"--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
	); err != nil {
		return nil, err
	}
	if err := c.run(opts, "kube-scheduler", bins.Scheduler,
		"--kubeconfig="+c.Kubeconfig,
		"--authentication-kubeconfig="+c.Kubeconfig, "--authorization-kubeconfig="+c.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port=0",
		"--leader-elect=false",
	); err != nil {
		return nil, err
	}

	// kwok serves port-forward only through its PortForward resources, which
	// need their CRDs before it starts.
	if err := c.applyFiles(ctx, filepath.Join(bins.KwokCRDs, "kwok.x-k8s.io_portforwards.yaml"),
		filepath.Join(bins.KwokCRDs, "kwok.x-k8s.io_clusterportforwards.yaml")); err != nil {
		return nil, fmt.Errorf("installing kwok CRDs: %w", err)
	}
	kwokConfig := filepath.Join(dir, "kwok.yaml")
	if err := writeKwokConfig(kwokConfig, bins.KwokStages); err != nil {
		return nil, err
	}
	logf("starting kwok (fake node %s)", NodeName)
	if err := c.run(opts, "kwok", bins.Kwok,
		"--kubeconfig="+c.Kubeconfig,
		"--config="+kwokConfig,
		"--manage-nodes-with-annotation-selector="+kwokNodeAnnotation+"=fake",
		"--cidr="+PodCIDR,
		"--node-ip=127.0.0.1",
		"--node-port="+strconv.Itoa(kwokPort),
		"--server-address=127.0.0.1:"+strconv.Itoa(kwokPort),
		"--tls-cert-file="+p.path("kwok.crt"), "--tls-private-key-file="+p.path("kwok.key"),
		"--enable-crds=PortForward,ClusterPortForward",
		"--node-lease-duration-seconds=40",
	); err != nil {
		return nil, err
	}
	if err := c.createNode(ctx); err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx, 90*time.Second); err != nil {
		return nil, err
	}
	logf("ready after %s; kubeconfig: %s", time.Since(started).Round(100*time.Millisecond), c.Kubeconfig)
	ok = true
	return c, nil
}

// Connect returns a Cluster for an existing kubeconfig, such as the one
// `make cluster-up` wrote.
func Connect(kubeconfig string) (*Cluster, error) {
	c := &Cluster{Dir: filepath.Dir(kubeconfig), Kubeconfig: kubeconfig}
	if err := c.connect(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitAPIServer(ctx, c.Client, 10*time.Second); err != nil {
		return nil, fmt.Errorf("cluster of %s is not reachable (is `make cluster-up` still running?): %w", kubeconfig, err)
	}
	return c, nil
}

func (c *Cluster) connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 100, 200
	c.Config = cfg
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	c.Dynamic, err = dynamic.NewForConfig(cfg)
	return err
}

func (c *Cluster) logPath(name string) string { return filepath.Join(c.Dir, "logs", name+".log") }

func (c *Cluster) run(opts Options, name, bin string, args ...string) error {
	logFile, err := os.Create(c.logPath(name))
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = c.Dir
	if opts.Detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	logFile.Close()
	c.procs = append(c.procs, cmd)
	f, err := os.OpenFile(filepath.Join(c.Dir, "pids"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%d %s\n", cmd.Process.Pid, name)
	return err
}

// Stop ends every process of the cluster, newest first, and removes etcd's
// in-memory data.
func (c *Cluster) Stop() {
	if c == nil {
		return
	}
	if len(c.procs) > 0 {
		for i := len(c.procs) - 1; i >= 0; i-- {
			_ = c.procs[i].Process.Signal(syscall.SIGTERM)
		}
		done := make(chan struct{})
		go func() {
			for _, p := range c.procs {
				_, _ = p.Process.Wait()
			}
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			// A throwaway cluster has nothing worth a graceful shutdown.
			for _, p := range c.procs {
				_ = p.Process.Kill()
			}
			<-done
		}
	} else {
		StopDir(c.Dir)
	}
	c.cleanupData()
}

// StopDir stops the processes recorded in dir/pids by an earlier Start, as
// `make cluster-down` does.
func StopDir(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "pids"))
	if err != nil {
		return
	}
	var pids []int
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if pid, err := strconv.Atoi(f[0]); err == nil {
			pids = append(pids, pid)
		}
	}
	for i := len(pids) - 1; i >= 0; i-- {
		_ = syscall.Kill(pids[i], syscall.SIGTERM)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for time.Now().Before(deadline) && syscall.Kill(pid, 0) == nil {
			time.Sleep(50 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = os.Remove(filepath.Join(dir, "pids"))
	(&Cluster{Dir: dir}).cleanupData()
}

func (c *Cluster) cleanupData() {
	if b, err := os.ReadFile(filepath.Join(c.Dir, "etcd-data-dir")); err == nil {
		if d := strings.TrimSpace(string(b)); strings.HasPrefix(d, "/dev/shm/meshctl-etcd-") {
			_ = os.RemoveAll(d)
		}
		_ = os.Remove(filepath.Join(c.Dir, "etcd-data-dir"))
	}
}

func (c *Cluster) createNode(ctx context.Context) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        NodeName,
		Annotations: map[string]string{kwokNodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
		Labels: map[string]string{
			"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			"type": "kwok",
		},
	}}
	_, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func (c *Cluster) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		node, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		nodeReady := false
		if err == nil {
			for _, cond := range node.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					nodeReady = true
				}
			}
			// The node lifecycle controller removes its not-ready taint a
			// moment after the node turns Ready; pods wait for that.
			for _, t := range node.Spec.Taints {
				if t.Key == corev1.TaintNodeNotReady {
					nodeReady = false
				}
			}
		}
		_, saErr := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if nodeReady && saErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not Ready or default ServiceAccount missing (logs in %s): %w",
				NodeName, filepath.Join(c.Dir, "logs"), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// applyFiles creates the objects of YAML files, tolerating existing ones.
func (c *Cluster) applyFiles(ctx context.Context, paths ...string) error {
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var u unstructured.Unstructured
			if err := dec.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return fmt.Errorf("%s: %w", path, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			if err := c.create(ctx, &u); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	return nil
}

func (c *Cluster) create(ctx context.Context, u *unstructured.Unstructured) error {
	gvk := u.GroupVersionKind()
	// Only the few kinds this package creates itself are mapped.
	resources := map[string]string{"CustomResourceDefinition": "customresourcedefinitions"}
	res, ok := resources[gvk.Kind]
	if !ok {
		return fmt.Errorf("testcluster cannot create kind %s", gvk.Kind)
	}
	gvr := schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: res}
	_, err := c.Dynamic.Resource(gvr).Create(ctx, u, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// writeKubeconfig embeds the certificates rather than naming their files:
// client-go caches TLS transports by file name, so a process that talked to an
// earlier cluster in the same directory would keep trusting the old CA.
func writeKubeconfig(path, server string, p *pki) error {
	read := func(name string) []byte {
		b, _ := os.ReadFile(p.path(name))
		return b
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: read("ca.crt")}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: read("admin.crt"), ClientKeyData: read("admin.key")}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "local"
	return clientcmd.WriteToFile(*cfg, path)
}

// writeKwokConfig writes kwok's configuration and the stages that make pods
// go through their lifecycle. The stages come from the kwok module itself;
// their delays are shortened because tests wait on them.
func writeKwokConfig(path, stageDir string) error {
	var buf bytes.Buffer
	buf.WriteString(`apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  podPlayStageParallelism: 8
  nodePlayStageParallelism: 2
  nodeLeaseDurationSeconds: 40
  nodeLeaseParallelism: 2
  podsOnNodeSyncParallelism: 4
  # logs, exec and port-forward are "debugging handlers" to kwok.
  enableDebuggingHandlers: true
`)
	stages := []string{
		"node/fast/node-initialize.yaml",
		"node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
		"pod/general/pod-create.yaml",
		"pod/general/pod-init-container-running.yaml",
		"pod/general/pod-init-container-completed.yaml",
		"pod/general/pod-ready.yaml",
		"pod/general/pod-complete.yaml",
		"pod/general/pod-delete.yaml",
	}
	fast := strings.NewReplacer(
		"durationMilliseconds: 1000", "durationMilliseconds: 50",
		"jitterDurationMilliseconds: 5000", "jitterDurationMilliseconds: 100",
	)
	for _, s := range stages {
		b, err := os.ReadFile(filepath.Join(stageDir, s))
		if err != nil {
			return fmt.Errorf("kwok stage: %w", err)
		}
		text := string(b)
		if strings.HasPrefix(s, "pod/") {
			text = fast.Replace(text)
		}
		buf.WriteString("---\n")
		buf.WriteString(text)
		if !strings.HasSuffix(text, "\n") {
			buf.WriteString("\n")
		}
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func waitAPIServer(ctx context.Context, client kubernetes.Interface, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func waitHTTP(ctx context.Context, client *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
