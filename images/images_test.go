// Package images checks the Dockerfiles of meshctl's two images against
// what runs them: the install manifests and the injected sidecar. The images
// cannot be built here (no container engine), so this is what keeps them
// honest.
package images

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/manifests"
	"github.com/meshctl/meshctl/pkg/cmd/root"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

func parseDockerfile(t *testing.T, path string) (stages [][]instruction) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var cur strings.Builder
	start, n := 0, 0
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" || len(stages) == 0 {
			stages = append(stages, nil)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	for sc.Scan() {
		n++
		l := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if s, ok := strings.CutSuffix(strings.TrimRight(l, " \t"), "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(l)
		flush()
	}
	flush()
	return stages
}

type image struct {
	path       string
	entrypoint []string
	user       string
	exposed    []int32
	copies     map[string]string // destination -> "--from=stage source"
	buildsMain bool
}

func readImage(t *testing.T, path string) image {
	t.Helper()
	stages := parseDockerfile(t, path)
	im := image{path: path, copies: map[string]string{}}
	for _, st := range stages {
		for _, in := range st {
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") && strings.Contains(in.args, "-o /out/meshctl ./cmd/meshctl") {
				im.buildsMain = true
			}
			if in.cmd == "FROM" && strings.Contains(in.args, "latest") {
				t.Errorf("%s:%d: base image %q is not pinned", path, in.line, in.args)
			}
		}
	}
	final := stages[len(stages)-1]
	for _, in := range final {
		switch in.cmd {
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in.args), &im.entrypoint); err != nil {
				t.Errorf("%s:%d: ENTRYPOINT must be exec form (a JSON list): %v", path, in.line, err)
			}
		case "USER":
			im.user = in.args
		case "EXPOSE":
			for _, p := range strings.Fields(in.args) {
				n, err := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
				if err != nil {
					t.Errorf("%s:%d: EXPOSE %q", path, in.line, p)
				}
				im.exposed = append(im.exposed, int32(n))
			}
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) >= 3 {
				im.copies[f[len(f)-1]] = strings.Join(f[:len(f)-1], " ")
			}
		}
	}
	if !im.buildsMain {
		t.Errorf("%s: no stage builds ./cmd/meshctl into /out/meshctl", path)
	}
	if len(im.entrypoint) != 1 || im.copies[im.entrypoint[0]] != "--from=build /out/meshctl" {
		t.Errorf("%s: the entrypoint %q is not the meshctl binary built in the image (copies: %v)", path, im.entrypoint, im.copies)
	}
	return im
}

func deployments(t *testing.T, path string) []appsv1.Deployment {
	t.Helper()
	b, err := manifests.FS.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []appsv1.Deployment
	for _, doc := range strings.Split(string(b), "\n---") {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d.Kind == "Deployment" {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no Deployment", path)
	}
	return out
}

// runs checks that meshctl accepts args (after the entrypoint): the command
// exists and its flags parse.
func runs(t *testing.T, where string, args []string) {
	t.Helper()
	streams, _, _, _ := iostreams.Test()
	cmd := root.NewCmdRoot(cmdutil.NewFactory(streams))
	found, rest, err := cmd.Find(args)
	if err != nil || found == cmd {
		t.Errorf("%s runs `meshctl %s`, which is not a meshctl command", where, strings.Join(args, " "))
		return
	}
	if err := found.ParseFlags(rest); err != nil {
		t.Errorf("%s runs `meshctl %s`: %v", where, strings.Join(args, " "), err)
		return
	}
	if found.Args != nil {
		if err := found.Args(found, found.Flags().Args()); err != nil {
			t.Errorf("%s runs `meshctl %s`: %v", where, strings.Join(args, " "), err)
		}
	}
}

func ports(c corev1.Container) []int32 {
	var out []int32
	for _, p := range c.Ports {
		out = append(out, p.ContainerPort)
	}
	slices.Sort(out)
	return out
}

func sorted(p []int32) []int32 {
	p = slices.Clone(p)
	slices.Sort(p)
	return p
}

func uid(user string) string { u, _, _ := strings.Cut(user, ":"); return u }

func TestMeshctlImage(t *testing.T) {
	im := readImage(t, filepath.Join("meshctl", "Dockerfile"))
	server := deployments(t, "server/deployment.yaml")[0]
	c := server.Spec.Template.Spec.Containers[0]
	runs(t, "the server Deployment", c.Args)
	if got, want := sorted(im.exposed), ports(c); !slices.Equal(got, want) {
		t.Errorf("meshctl image exposes %v, the server Deployment declares %v", got, want)
	}
	if sc := server.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsUser == nil || strconv.FormatInt(*sc.RunAsUser, 10) != uid(im.user) {
		t.Errorf("meshctl image runs as %q, the server Deployment as %v", im.user, sc)
	}

	// The same image runs proxy-init in every injected pod: as root, which
	// the injector asks for explicitly since the image's user is not.
	res, err := inject.Inject(inject.Workload{Kind: "Pod", Name: "p"}, &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}, inject.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, ic := range res.Template.Spec.InitContainers {
		if ic.Name != vocab.InitContainerName {
			continue
		}
		runs(t, "the injected "+ic.Name+" container", ic.Args)
		if uid(im.user) == "0" || ic.SecurityContext.RunAsUser == nil || *ic.SecurityContext.RunAsUser != 0 {
			t.Errorf("the image must run as non-root, and only %s as root", ic.Name)
		}
	}
}

func TestProxyImage(t *testing.T) {
	im := readImage(t, filepath.Join("proxy", "Dockerfile"))
	res, err := inject.Inject(inject.Workload{Kind: "Pod", Name: "p"}, &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}, func() inject.Config {
		c := inject.DefaultConfig()
		c.HoldApplicationUntilProxyStarts = true
		return c
	}())
	if err != nil {
		t.Fatal(err)
	}
	var proxy *corev1.Container
	for i, c := range res.Template.Spec.Containers {
		if c.Name == vocab.ProxyContainerName {
			proxy = &res.Template.Spec.Containers[i]
		}
	}
	if proxy == nil {
		t.Fatal("no proxy container injected")
	}
	runs(t, "the injected "+proxy.Name+" container", proxy.Args)
	if h := proxy.Lifecycle; h == nil || h.PostStart == nil || h.PostStart.Exec == nil {
		t.Fatal("no postStart hook with holdApplicationUntilProxyStarts")
	} else {
		cmd := h.PostStart.Exec.Command
		if filepath.Base(im.entrypoint[0]) != cmd[0] {
			t.Errorf("the postStart hook runs %q, the image's binary is %q", cmd[0], im.entrypoint[0])
		}
		runs(t, "the postStart hook", cmd[1:])
	}
	if got, want := sorted(im.exposed), ports(*proxy); !slices.Equal(got, want) {
		t.Errorf("proxy image exposes %v, the injected proxy declares %v", got, want)
	}
	if uid(im.user) != strconv.Itoa(vocab.ProxyUID) || *proxy.SecurityContext.RunAsUser != vocab.ProxyUID {
		t.Errorf("proxy image runs as %q, the injected proxy as %d", im.user, *proxy.SecurityContext.RunAsUser)
	}
	for _, path := range []string{"gateways/ingress/gateway.yaml", "gateways/egress/gateway.yaml"} {
		for _, d := range deployments(t, path) {
			runs(t, path, d.Spec.Template.Spec.Containers[0].Args)
			if sc := d.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsUser == nil || strconv.FormatInt(*sc.RunAsUser, 10) != uid(im.user) {
				t.Errorf("%s runs as %v, the proxy image as %q", path, sc, im.user)
			}
		}
	}
}
