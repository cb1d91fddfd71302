package install

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"path"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/manifests"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/profiles"
	"github.com/meshctl/meshctl/pkg/vocab"
	"github.com/meshctl/meshctl/pkg/webhookconfig"
)

// Component is one installable part of the mesh and the objects it renders
// to, in apply order.
type Component struct {
	Name    string
	Objects []*unstructured.Unstructured
}

// Manifest is a rendered install: its components in the order they are
// applied (CRDs, control plane, gateways, addons). Its objects are shared
// with later renders of the same spec: DeepCopy one before changing it.
type Manifest struct {
	Spec       *profiles.MeshInstall
	Components []Component
}

// Objects returns every object of every component, in apply order.
func (m *Manifest) Objects() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, c := range m.Components {
		out = append(out, c.Objects...)
	}
	return out
}

// Component returns the component with name, or nil.
func (m *Manifest) Component(name string) *Component {
	for i := range m.Components {
		if m.Components[i].Name == name {
			return &m.Components[i]
		}
	}
	return nil
}

// YAML is the whole manifest as a YAML stream; identical input gives
// byte-identical output.
func (m *Manifest) YAML() ([]byte, error) {
	return ObjectsYAML(m.Objects())
}

// ObjectsYAML returns objects as one YAML stream.
func ObjectsYAML(objs []*unstructured.Unstructured) ([]byte, error) {
	var buf bytes.Buffer
	err := WriteObjectsYAML(&buf, objs)
	return buf.Bytes(), err
}

// WriteYAML writes the whole manifest to w as YAML, without building it in
// memory first (most of it is the cached encoding of the CRDs).
func (m *Manifest) WriteYAML(w io.Writer) error {
	return WriteObjectsYAML(w, m.Objects())
}

// WriteObjectsYAML writes objects to w as one YAML stream.
func WriteObjectsYAML(w io.Writer, objs []*unstructured.Unstructured) error {
	for i, o := range objs {
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		v, cached := encoded.Load(o)
		b, _ := v.([]byte)
		if b == nil {
			var err error
			if b, err = marshalYAML(o.Object); err != nil {
				return fmt.Errorf("encoding %s: %w", Ref(o), err)
			}
			if cached {
				encoded.Store(o, b)
			}
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// AddonComponents are the addon component names in install order.
var AddonComponents = []string{vocab.ComponentPrometheus, vocab.ComponentGrafana, vocab.ComponentJaeger, vocab.ComponentKiali, vocab.ComponentZipkin}

// InstallName is the value of vocab.LabelInstall: installs are told apart by
// revision within a mesh namespace (where the inventory lives).
func InstallName(s *profiles.Spec) string { return s.RevisionName() }

// renderer holds the embedded manifests in the in-memory filesystem krusty
// reads, and the renders already made. A process has one (theRenderer);
// benchmarks make fresh ones to measure what a new process pays.
type renderer struct {
	mu     sync.Mutex
	fs     filesys.FileSystem // built on the first kustomize run
	loaded map[string]bool    // the embedded directories copied into fs
	cache  map[[32]byte][]*unstructured.Unstructured
	crds   func() (*crdSet, error) // decoded once, shared by renders
	// crdHeads are the CRDs without their spec, for renders that are only
	// written out.
	crdHeads func() (*crdSet, error)
	// kustomizeLabels configures the labels with kustomize's own `labels:`
	// field and default field specs instead of labelFieldSpecs; tests
	// compare the two renders.
	kustomizeLabels bool
}

func newRenderer() *renderer {
	return &renderer{
		cache:    map[[32]byte][]*unstructured.Unstructured{},
		crds:     sync.OnceValues(func() (*crdSet, error) { return loadCRDs(true) }),
		crdHeads: sync.OnceValues(func() (*crdSet, error) { return loadCRDs(false) }),
	}
}

// theRenderer is shared by every render of the process; building it costs
// nothing, the embedded manifests are loaded on the first render.
var theRenderer = newRenderer()

// kustomizer returns the filesystem kustomize reads, making it on first
// use (and waiting for kustomize's schema). The embedded directories are
// copied in when an overlay first names them (embedDirs): most renders never
// read the CRDs' base, which is most of the bytes under manifests/.
func (r *renderer) kustomizer() (filesys.FileSystem, error) {
	if err := kustomizeSchema(); err != nil {
		return nil, err
	}
	if r.fs != nil {
		return r.fs, nil
	}
	r.fs = filesys.MakeFsInMemory()
	r.loaded = map[string]bool{}
	return r.fs, nil
}

// kustomizeSchema sets and parses the schema kustomize merges patches with,
// once per process (kustomize keeps it process-wide). kustomize needs a
// schema only for the merge keys of strategic-merge patches and for which
// kinds are namespaced; its built-in one covers every Kubernetes API and
// costs more to load than the rest of a render. The generated subset covers
// the kinds under manifests/ (go generate ./manifests/). Parsing it is
// still a few milliseconds that both kustomize runs of a render would wait
// for under kustomize's lock: renderFor starts it on the second core while
// it builds the overlays.
var kustomizeSchema = sync.OnceValue(func() error {
	schema, err := manifests.FS.ReadFile("openapi.json")
	if err != nil {
		return err
	}
	if err := openapi.SetSchema(nil, schema, true); err != nil {
		return fmt.Errorf("manifests/openapi.json: %w", err)
	}
	openapi.SchemaForResourceType(kyaml.TypeMeta{}) // parses it
	return nil
})

// embedDirs copies into the filesystem the embedded directories that the
// resources and components of an overlay in dir name, with everything
// under them.
func (r *renderer) embedDirs(dir string, refs []string) error {
	for _, ref := range refs {
		p := path.Join(dir, ref)
		top, _, _ := strings.Cut(strings.TrimPrefix(p, "/manifests/"), "/")
		if !strings.HasPrefix(p, "/manifests/") || top == overlaysDir || r.loaded[top] {
			continue
		}
		err := fs.WalkDir(manifests.FS, top, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := manifests.FS.ReadFile(p)
			if err != nil {
				return err
			}
			return r.fs.WriteFile(path.Join("/manifests", p), b)
		})
		if err != nil {
			return fmt.Errorf("loading embedded manifests: %w", err)
		}
		r.loaded[top] = true
	}
	return nil
}

// overlaysDir holds the generated kustomizations, beside the embedded
// bases they name.
const overlaysDir = "_overlays"

// forget drops the renders and their cached encodings.
func (r *renderer) forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, objs := range r.cache {
		for _, o := range objs {
			encoded.Delete(o)
		}
	}
	clear(r.cache)
}

// Render turns a resolved spec into the objects to install. The spec becomes
// kustomize inputs (namespace, labels, images, patches, generated config),
// never text substitution into the manifests.
func Render(mi *profiles.MeshInstall) (*Manifest, error) {
	return theRenderer.render(mi)
}

// WriteRenderedYAML renders mi and writes it to w, byte for byte as
// Manifest.WriteYAML writes Render's result, without decoding the CRDs'
// schemas: only their generated YAML is written (`manifest generate`).
func WriteRenderedYAML(w io.Writer, mi *profiles.MeshInstall) error {
	m, err := theRenderer.renderFor(mi, false)
	if err != nil {
		return err
	}
	return m.WriteYAML(w)
}

// WriteRenderedDir renders mi into dir as WriteDir writes Render's result,
// without decoding the CRDs' schemas (see WriteRenderedYAML).
func WriteRenderedDir(dir string, mi *profiles.MeshInstall) (DirResult, error) {
	m, err := theRenderer.renderFor(mi, false)
	if err != nil {
		return DirResult{}, err
	}
	return WriteDir(dir, m)
}

func (r *renderer) render(mi *profiles.MeshInstall) (*Manifest, error) {
	return r.renderFor(mi, true)
}

// renderFor renders mi; without full, the CRDs are left without their
// spec, which only their cached YAML holds (see WriteRenderedYAML).
func (r *renderer) renderFor(mi *profiles.MeshInstall, full bool) (*Manifest, error) {
	r.mu.Lock()
	defer r.mu.Unlock()

	s := &mi.Spec
	out := &Manifest{Spec: mi}
	add := func(name string, objs []*unstructured.Unstructured) {
		if len(objs) > 0 {
			objs = slices.Clone(objs)
			sortObjects(objs)
			out.Components = append(out.Components, Component{Name: name, Objects: objs})
		}
	}

	go func() { _ = kustomizeSchema() }()
	// The CRDs do not depend on the spec: they are made on the other core
	// while the kustomize runs below go (decoding them with their schemas
	// is the largest single step of a first Render), and the base
	// component is put first when they are done.
	crdKey, renderCRDs := sha256.Sum256([]byte("crds")), r.renderCRDs
	if !full {
		crdKey, renderCRDs = sha256.Sum256([]byte("crd heads")), r.renderCRDHeads
	}
	var crds func() ([]*unstructured.Unstructured, error)
	if _, done := r.cache[crdKey]; s.Components.Base.Enabled && !done {
		made := make(chan struct{})
		var objs []*unstructured.Unstructured
		var err error
		go func() {
			defer close(made)
			objs, err = renderCRDs()
		}()
		crds = func() ([]*unstructured.Unstructured, error) {
			<-made
			return objs, err
		}
	}
	// Each component is an overlay of its base that adds what is its own
	// (its component label, images, patches, generated config), or, for an
	// addon as shipped, its base itself, which carries its label; one
	// kustomization above them all adds what they share (the revision and
	// install labels, the namespace, the cluster-scoped names), so that
	// kustomize configures those transformers once per run, not once per
	// component; the kustomize runs below (control plane and gateways, addons,
	// each renamed gateway) are few and go concurrently.
	type part struct {
		component string
		o         overlay
		renamed   bool // a gateway not named as its base
		addon     bool
	}
	var parts []part
	if s.Components.Server.Enabled {
		o, err := serverOverlay(mi)
		if err != nil {
			return nil, err
		}
		parts = append(parts, part{vocab.ComponentServer, o, false, false})
	}
	for _, kind := range []struct {
		component, base string
		list            []profiles.Gateway
	}{
		{vocab.ComponentIngressGateway, vocab.DefaultIngressGatewayName, s.Components.IngressGateways},
		{vocab.ComponentEgressGateway, vocab.DefaultEgressGatewayName, s.Components.EgressGateways},
	} {
		for _, g := range kind.list {
			if !g.Enabled {
				continue
			}
			o, err := gatewayOverlay(s, mi.InjectConfig(), kind.component, kind.base, g)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part{kind.component, o, g.Name != kind.base, false})
		}
	}
	addons := s.Addons.ByName()
	for _, name := range AddonComponents {
		if a := addons[name]; a.Enabled {
			parts = append(parts, part{name, addonOverlay(s, name, *a), false, true})
		}
	}
	// A gateway renamed from its base keeps the base's name in kustomize's
	// record of earlier names, which would make the references of another
	// gateway of that base (or of anything it is renamed after) ambiguous:
	// each renamed gateway is rendered by a run of its own. The other
	// components are dealt between two runs of about equal cost, which a
	// second core renders side by side for the cost of configuring the
	// shared transformers twice (measured: the control plane and the
	// gateways alone took twice as long as the five addons). Timed runs put
	// a gateway at about four addons as shipped (which have no overlay) and
	// the control plane at six: a patch of its Deployment, images, and for
	// the control plane its webhooks' patches and generated config.
	var runs []kustomizeRun
	var shared [2][]overlay
	var cost [2]int
	for _, p := range parts {
		if p.renamed {
			runs = append(runs, kustomizeRun{subs: []overlay{p.o}})
			continue
		}
		i := 0
		if cost[1] < cost[0] {
			i = 1
		}
		shared[i] = append(shared[i], p.o)
		switch {
		case p.addon:
			cost[i]++
		case p.component == vocab.ComponentServer:
			cost[i] += 6
		default:
			cost[i] += 4
		}
	}
	for _, subs := range [][]overlay{shared[1], shared[0]} {
		if len(subs) > 0 {
			runs = append([]kustomizeRun{{subs: subs}}, runs...)
		}
	}
	for i := range runs {
		runs[i].top = installOverlay(s, fmt.Sprintf("install-%d", i), runs[i].subs)
	}
	rendered, err := r.renderOverlays(runs, !full)
	if err != nil {
		return nil, err
	}
	// Every object carries its component's label (componentLabels, or an
	// addon's base as shipped); gateways of one kind form one component.
	byComponent := map[string][]*unstructured.Unstructured{}
	for _, objs := range rendered {
		for _, o := range objs {
			c, _, _ := unstructured.NestedString(o.Object, "metadata", "labels", vocab.LabelComponent)
			if c == "" {
				return nil, fmt.Errorf("rendered %s has no %s label (a bug in meshctl; please report it)", Ref(o), vocab.LabelComponent)
			}
			byComponent[c] = append(byComponent[c], o)
		}
	}
	for _, p := range parts {
		if objs, ok := byComponent[p.component]; ok {
			add(p.component, objs)
			delete(byComponent, p.component)
		}
	}
	for c, objs := range byComponent {
		return nil, fmt.Errorf("rendered %s has %s %q, which is no component of the spec (a bug in meshctl; please report it)", Ref(objs[0]), vocab.LabelComponent, c)
	}
	if s.Components.Base.Enabled {
		if crds == nil {
			crds = renderCRDs // cached: not called
		}
		objs, err := r.cached(crdKey, crds)
		if err != nil {
			return nil, err
		}
		rest := out.Components
		out.Components = nil
		add(vocab.ComponentBase, objs)
		out.Components = append(out.Components, rest...)
	}
	return out, nil
}

// overlay is a kustomization generated from the spec (written as JSON, which
// kustomize reads as YAML and which is much cheaper to encode), placed next to the
// embedded bases.
type overlay struct {
	// base, when set, is an embedded base (relative to manifests/) that
	// the run's top kustomization names directly: a component that adds
	// nothing to its base needs no kustomization of its own.
	base         string
	dir          string
	resources    []string
	components   []string
	labels       []labelSet
	namespace    string
	nameSuffix   string
	clusterNames bool // suffix cluster-scoped names with the namespace
	images       []image
	patches      []patch
	files        map[string][]byte // generated ConfigMap data, by file name
	configMaps   []configMap
}

type labelSet struct {
	Pairs            map[string]string `json:"pairs"`
	IncludeSelectors bool              `json:"includeSelectors,omitempty"`
	IncludeTemplates bool              `json:"includeTemplates,omitempty"`
}

type image struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
}

type patchTarget struct {
	Kind string `json:"kind,omitempty"`
	Name string `json:"name,omitempty"`
}

type patch struct {
	Patch  string       `json:"patch"`
	Target *patchTarget `json:"target,omitempty"`
}

type configMap struct {
	Name    string            `json:"name"`
	Files   []string          `json:"files"`
	Options map[string]any    `json:"options"`
	Labels  map[string]string `json:"-"`
}

// clusterScopedKinds get the mesh namespace appended to their names, so that
// installs in different namespaces never share (or prune) them.
var clusterScopedKinds = []string{"ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}

func (o overlay) kustomization(kustomizeLabels bool) ([]byte, map[string][]byte, error) {
	files := map[string][]byte{}
	k := map[string]any{
		"apiVersion": "kustomize.config.k8s.io/v1beta1",
		"kind":       "Kustomization",
		"resources":  o.resources,
	}
	if len(o.components) > 0 {
		k["components"] = o.components
	}
	var transformers []string
	if kustomizeLabels {
		k["labels"] = o.labels
	} else if len(o.labels) > 0 {
		b, err := labelTransformers(o.labels)
		if err != nil {
			return nil, nil, err
		}
		files["labels.yaml"] = b
		transformers = append(transformers, "labels.yaml")
	}
	if o.namespace != "" {
		// The builtin namespace transformer, configured so that it also fixes
		// the service account of every binding and the Service of every
		// webhook (the plain `namespace:` field leaves them pointing at the
		// bases' placeholder namespace).
		ns := map[string]any{
			"apiVersion":             "builtin",
			"kind":                   "NamespaceTransformer",
			"metadata":               map[string]any{"name": "mesh-namespace", "namespace": o.namespace},
			"setRoleBindingSubjects": "allServiceAccounts",
			"unsetOnly":              false,
			"fieldSpecs": []map[string]any{
				{"path": "metadata/namespace", "create": true},
				{"path": "webhooks/clientConfig/service/namespace", "kind": "MutatingWebhookConfiguration"},
				{"path": "webhooks/clientConfig/service/namespace", "kind": "ValidatingWebhookConfiguration"},
			},
		}
		b, err := json.Marshal(ns)
		if err != nil {
			return nil, nil, err
		}
		files["namespace.yaml"] = b
		transformers = append(transformers, "namespace.yaml")
	}
	if o.clusterNames {
		var specs []map[string]any
		for _, kind := range clusterScopedKinds {
			specs = append(specs, map[string]any{"path": "metadata/name", "kind": kind})
		}
		b, err := json.Marshal(map[string]any{
			"apiVersion": "builtin",
			"kind":       "PrefixSuffixTransformer",
			"metadata":   map[string]any{"name": "cluster-scoped-names"},
			"suffix":     "-" + o.namespace,
			"fieldSpecs": specs,
		})
		if err != nil {
			return nil, nil, err
		}
		files["cluster-names.yaml"] = b
		transformers = append(transformers, "cluster-names.yaml")
	}
	if len(transformers) > 0 {
		k["transformers"] = transformers
	}
	if o.nameSuffix != "" {
		k["nameSuffix"] = o.nameSuffix
	}
	if len(o.images) > 0 {
		k["images"] = o.images
	}
	if len(o.patches) > 0 {
		// Each patch is a file of the overlay, not a string inside the
		// kustomization: kustomize converts a kustomization from YAML to
		// JSON when it loads it and copies it through JSON each time it
		// reads it, which with the patches inline (escaped strings of
		// kilobytes) was a sixth of a render.
		refs := make([]map[string]any, len(o.patches))
		for i, p := range o.patches {
			name := fmt.Sprintf("patch-%d.json", i)
			files[name] = []byte(p.Patch)
			refs[i] = map[string]any{"path": name}
			if p.Target != nil {
				refs[i]["target"] = p.Target
			}
		}
		k["patches"] = refs
	}
	if len(o.configMaps) > 0 {
		k["configMapGenerator"] = o.configMaps
	}
	for n, b := range o.files {
		files[n] = b
	}
	b, err := json.Marshal(k)
	return b, files, err
}

// kustomizeRun is one kustomize run: the overlay top, whose resources may
// name the overlays subs (as ../<dir>).
type kustomizeRun struct {
	top  overlay
	subs []overlay
}

// kustomize renders the overlay o over the overlays subs in one run.
func (r *renderer) kustomize(o overlay, subs ...overlay) ([]*unstructured.Unstructured, error) {
	objs, err := r.kustomizeAll([]kustomizeRun{{top: o, subs: subs}}, false)
	if err != nil {
		return nil, err
	}
	return objs[0], nil
}

// kustomizeAll renders runs whose overlays' directories all differ: their
// kustomizations are written into the in-memory filesystem first, each
// into an empty directory so that nothing of a previous render (a file
// that is no longer generated) leaks into this one; then the runs go
// concurrently (a run only reads the filesystem; kyaml's one process-wide
// schema is behind its own lock). With encode, each run also encodes its
// objects as YAML (WriteObjectsYAML's cache), for renders that are written.
func (r *renderer) kustomizeAll(runs []kustomizeRun, encode bool) ([][]*unstructured.Unstructured, error) {
	mfs, err := r.kustomizer()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, run := range runs {
		for _, o := range append(slices.Clone(run.subs), run.top) {
			if o.base != "" {
				continue
			}
			if seen[o.dir] {
				return nil, fmt.Errorf("two overlays in %s in one render", o.dir)
			}
			seen[o.dir] = true
			k, files, err := o.kustomization(r.kustomizeLabels)
			if err != nil {
				return nil, err
			}
			dir := path.Join("/manifests", overlaysDir, o.dir)
			_ = mfs.RemoveAll(dir)
			if err := mfs.MkdirAll(dir); err != nil {
				return nil, err
			}
			if err := mfs.WriteFile(path.Join(dir, "kustomization.yaml"), k); err != nil {
				return nil, err
			}
			for n, b := range files {
				if err := mfs.WriteFile(path.Join(dir, n), b); err != nil {
					return nil, err
				}
			}
			if err := r.embedDirs(dir, slices.Concat(o.resources, o.components)); err != nil {
				return nil, err
			}
		}
	}
	out := make([][]*unstructured.Unstructured, len(runs))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, run := range runs {
		g.Go(func() error {
			// A Kustomizer per run: runs share nothing but the filesystem.
			rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mfs, path.Join("/manifests", overlaysDir, run.top.dir))
			if err != nil {
				return fmt.Errorf("rendering %s (a bug in meshctl's manifests; please report it): %w", run.top.dir, err)
			}
			if out[i], err = resourceObjects(rm); err != nil || !encode {
				return err
			}
			// A render that is to be written encodes each run's objects
			// on the core that made them, while the other run is still
			// going (the runs seldom end together); an error is left to
			// the write, which reports it.
			for _, o := range out[i] {
				if b, err := marshalYAML(o.Object); err == nil {
					encoded.Store(o, b)
				}
			}
			return nil
		})
	}
	return out, g.Wait()
}

// resourceObjects converts kustomize's resources into unstructured objects.
func resourceObjects(rm resmap.ResMap) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, res := range rm.Resources() {
		if m, err := res.Map(); err == nil {
			if obj, ok := jsonValue(m); ok {
				objs = append(objs, &unstructured.Unstructured{Object: obj.(map[string]any)})
				continue
			}
		}
		// Through JSON, so that numbers are the int64/float64 that
		// unstructured (and DeepCopy) expect.
		b, err := res.MarshalJSON()
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			return nil, err
		}
		objs = append(objs, u)
	}
	return objs, nil
}

// jsonValue converts a value decoded from YAML into what the same value
// gives after a trip through JSON into an unstructured object (int64 for
// every integer, float64 otherwise), without encoding and re-parsing it. It
// reports false for anything else; the caller then takes the JSON trip.
func jsonValue(v any) (any, bool) {
	switch t := v.(type) {
	case nil, string, bool, int64:
		return v, true
	case int:
		return int64(t), true
	case float64:
		// encoding/json writes integral floats without a fraction, which
		// decode as int64 when they fit.
		if t == math.Trunc(t) && t >= math.MinInt64 && t < -math.MinInt64 {
			return int64(t), true
		}
		return t, !math.IsInf(t, 0) && !math.IsNaN(t)
	case map[string]any:
		for k, x := range t {
			y, ok := jsonValue(x)
			if !ok {
				return nil, false
			}
			t[k] = y
		}
		return t, true
	case []any:
		for i, x := range t {
			y, ok := jsonValue(x)
			if !ok {
				return nil, false
			}
			t[i] = y
		}
		return t, true
	}
	return nil, false
}

// renderOverlays renders runs, memoized: the output of a run depends only
// on its kustomizations and generated files. Kustomize re-parses every base
// on each run, so without this a render costs tens of milliseconds; with
// it, re-rendering an unchanged spec is a map lookup. The objects are
// shared between renders and must not be modified (DeepCopy first).
func (r *renderer) renderOverlays(runs []kustomizeRun, encode bool) ([][]*unstructured.Unstructured, error) {
	out := make([][]*unstructured.Unstructured, len(runs))
	keys := make([][32]byte, len(runs))
	var missing []kustomizeRun
	var at []int
	for i, run := range runs {
		h := sha256.New()
		for _, o := range append(slices.Clone(run.subs), run.top) {
			if o.base != "" {
				continue // named by the top's kustomization, which is hashed
			}
			k, files, err := o.kustomization(r.kustomizeLabels)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(h, "\x00%s\x00%d\x00", o.dir, len(k))
			h.Write(k)
			names := make([]string, 0, len(files))
			for n := range files {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(h, "\x00%s\x00%d\x00", n, len(files[n]))
				h.Write(files[n])
			}
		}
		copy(keys[i][:], h.Sum(nil))
		if objs, ok := r.cache[keys[i]]; ok {
			out[i] = slices.Clone(objs)
			continue
		}
		missing = append(missing, run)
		at = append(at, i)
	}
	if len(missing) == 0 {
		return out, nil
	}
	made, err := r.kustomizeAll(missing, encode)
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		if out[i], err = r.cached(keys[i], func() ([]*unstructured.Unstructured, error) { return made[j], nil }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// cached returns the objects stored under key, or makes and stores them.
func (r *renderer) cached(key [32]byte, make func() ([]*unstructured.Unstructured, error)) ([]*unstructured.Unstructured, error) {
	if objs, ok := r.cache[key]; ok {
		return slices.Clone(objs), nil
	}
	objs, err := make()
	if err != nil {
		return nil, err
	}
	if len(r.cache) >= maxCachedRenders {
		// A long-lived caller rendering many different specs (the server, a
		// benchmark) must not grow without bound; the CRDs are re-rendered
		// at most once per eviction.
		for _, old := range r.cache {
			for _, o := range old {
				encoded.Delete(o)
			}
		}
		clear(r.cache)
	}
	r.cache[key] = objs
	for _, o := range objs {
		// Keep an encoding made with the objects (the CRDs'); the others
		// are encoded on first write.
		encoded.LoadOrStore(o, []byte(nil))
	}
	return slices.Clone(objs), nil
}

const maxCachedRenders = 64

// encoded caches the YAML of rendered objects, which are immutable once
// cached (see renderOverlays).
var encoded sync.Map // *unstructured.Unstructured -> []byte

// installLabels are the ownership labels every object of an install
// carries besides its component's (componentLabels). Only the revision goes
// into selectors: two revisions' pods must never be selected by each
// other's Deployments, and the other labels may change over time while
// selectors are immutable.
func installLabels(s *profiles.Spec) []labelSet {
	return []labelSet{
		{Pairs: map[string]string{vocab.LabelRevision: s.RevisionName()}, IncludeSelectors: true},
		{Pairs: map[string]string{
			vocab.LabelPartOf:  vocab.PartOfValue,
			vocab.LabelInstall: InstallName(s),
		}, IncludeTemplates: true},
	}
}

// componentLabels name the component an object belongs to; render sorts
// the objects of its one kustomize run into components by this label.
func componentLabels(component string) []labelSet {
	return []labelSet{{Pairs: map[string]string{vocab.LabelComponent: component}, IncludeTemplates: true}}
}

// installOverlay is the kustomization above the components' overlays subs:
// what every component of the install shares.
func installOverlay(s *profiles.Spec, dir string, subs []overlay) overlay {
	o := overlay{
		dir:          dir,
		labels:       installLabels(s),
		namespace:    s.MeshNamespace,
		clusterNames: true,
	}
	for _, sub := range subs {
		if sub.base != "" {
			o.resources = append(o.resources, "../../"+sub.base)
		} else {
			o.resources = append(o.resources, "../"+sub.dir)
		}
	}
	return o
}

// labelFieldSpecs are where kustomize's LabelTransformer sets the labels:
// kustomize's defaults (for `labels:` with includeSelectors, and with
// includeTemplates) restricted to the kinds under manifests/. Configuring
// the `labels:` field instead costs kustomize a YAML round trip of its ~40
// default field specs three times per overlay, about a seventh of a first
// render. TestLabelFieldSpecsMatchKustomize renders every profile both ways
// and fails if a kind added to the manifests needs a spec that is missing.
var labelFieldSpecs = struct{ selectors, templates []map[string]any }{
	selectors: slices.Concat(metadataLabelSpecs, []map[string]any{
		{"path": "spec/selector", "create": true, "version": "v1", "kind": "Service"},
		{"path": "spec/selector/matchLabels", "create": true, "kind": "Deployment"},
		{"path": "spec/selector/matchLabels", "group": "policy", "kind": "PodDisruptionBudget"},
	}, deploymentSelectorSpecs),
	templates: metadataLabelSpecs,
}

var metadataLabelSpecs = []map[string]any{
	{"path": "metadata/labels", "create": true},
	{"path": "spec/template/metadata/labels", "create": true, "kind": "Deployment"},
}

// deploymentSelectorSpecs are the label selectors inside a pod template that
// select the Deployment's own pods (affinity, spreading).
var deploymentSelectorSpecs = func() []map[string]any {
	var out []map[string]any
	for _, p := range []string{
		"affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
		"affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
		"affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
		"affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
		"topologySpreadConstraints/labelSelector/matchLabels",
	} {
		out = append(out, map[string]any{"path": "spec/template/spec/" + p, "group": "apps", "kind": "Deployment"})
	}
	return out
}()

// labelTransformers configures one builtin LabelTransformer per label set,
// as a multi-document transformer file.
func labelTransformers(sets []labelSet) ([]byte, error) {
	var out []byte
	for i, l := range sets {
		specs := labelFieldSpecs.selectors
		if !l.IncludeSelectors {
			specs = []map[string]any{{"path": "metadata/labels", "create": true}}
			if l.IncludeTemplates {
				specs = labelFieldSpecs.templates
			}
		}
		b, err := json.Marshal(map[string]any{
			"apiVersion": "builtin",
			"kind":       "LabelTransformer",
			"metadata":   map[string]any{"name": fmt.Sprintf("labels-%d", i)},
			"labels":     l.Pairs,
			"fieldSpecs": specs,
		})
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out = append(out, "\n---\n"...)
		}
		out = append(out, b...)
	}
	return out, nil
}

func splitImage(ref string) image {
	name, tag := ref, ""
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		name, tag = ref[:i], ref[i+1:]
	}
	return image{NewName: name, NewTag: tag}
}

func serverOverlay(mi *profiles.MeshInstall) (overlay, error) {
	s := &mi.Spec
	c := s.Components.Server
	mc, err := mi.RenderedMeshConfig()
	if err != nil {
		return overlay{}, fmt.Errorf("mesh config: %w", err)
	}
	meshYAML, err := meshconfig.Marshal(mc)
	if err != nil {
		return overlay{}, fmt.Errorf("mesh config: %w", err)
	}
	injectYAML, err := yaml.Marshal(mi.InjectConfig())
	if err != nil {
		return overlay{}, fmt.Errorf("injection config: %w", err)
	}
	files := map[string][]byte{
		vocab.ConfigMapKeyMesh:   meshYAML,
		vocab.ConfigMapKeyInject: injectYAML,
	}
	keys := []string{vocab.ConfigMapKeyMesh, vocab.ConfigMapKeyInject}
	if len(s.Values) > 0 {
		valuesYAML, err := yaml.Marshal(s.Values)
		if err != nil {
			return overlay{}, fmt.Errorf("values: %w", err)
		}
		files[vocab.ConfigMapKeyValues] = valuesYAML
		keys = append(keys, vocab.ConfigMapKeyValues)
	}
	img := splitImage(s.ServerImage())
	img.Name = "meshctl"

	env := envList(c.Env)
	env = append([]map[string]any{{"name": "REVISION", "value": s.RevisionName()}}, env...)
	dep := deploymentPatch(vocab.ServerBaseName, vocab.ServerContainerName, c.Replicas, c.Resources, env, c.K8s)
	if c.Autoscale.Enabled {
		// The autoscaler owns the replica count: leaving it out of the
		// applied object keeps each apply from resetting it.
		delete(dep["spec"].(map[string]any), "replicas")
	}
	o := overlay{
		dir:       "server",
		resources: []string{"../../server"},
		labels:    componentLabels(vocab.ComponentServer),
		images:    []image{img},
		files:     files,
		configMaps: []configMap{{
			Name:    vocab.MeshConfigMapBaseName,
			Files:   keys,
			Options: map[string]any{"disableNameSuffixHash": true, "labels": map[string]string{vocab.LabelApp: vocab.ServerBaseName}},
		}},
		patches: []patch{smp(dep)},
	}
	if s.RevisionName() != vocab.DefaultRevision {
		o.nameSuffix = "-" + s.Revision
	}
	o.patches = append(o.patches, webhookPatches(s)...)
	if len(c.K8s.ServiceAnnotations) > 0 {
		o.patches = append(o.patches, smp(servicePatch(vocab.ServerBaseName, c.K8s.ServiceAnnotations, "")))
	}
	if m := s.MeshConfig.MTLS.Mode; m != "" && m != profiles.MTLSPermissive {
		o.components = append(o.components, "../../components/peer-authentication")
		o.patches = append(o.patches, patch{
			Target: &patchTarget{Kind: "PeerAuthentication"},
			Patch:  fmt.Sprintf("- op: replace\n  path: /spec/mtls/mode\n  value: %s\n", m),
		})
	}
	if c.Autoscale.Enabled {
		o.components = append(o.components, "../../components/autoscale")
		o.patches = append(o.patches, patch{
			Target: &patchTarget{Kind: "HorizontalPodAutoscaler"},
			Patch: fmt.Sprintf("- op: replace\n  path: /spec/minReplicas\n  value: %d\n- op: replace\n  path: /spec/maxReplicas\n  value: %d\n",
				c.Autoscale.Min, c.Autoscale.Max),
		})
	}
	return o, nil
}

func gatewayOverlay(s *profiles.Spec, cfg inject.Config, component, base string, g profiles.Gateway) (overlay, error) {
	img := splitImage(s.ProxyImage())
	img.Name = "proxy"
	agent, err := gatewayAgentPatch(cfg, base, g.Name)
	if err != nil {
		return overlay{}, err
	}
	o := overlay{
		dir:       component + "/" + g.Name,
		resources: []string{"../../../gateways/" + strings.TrimSuffix(component, "-gateway")},
		labels:    componentLabels(component),
		images:    []image{img},
		patches:   []patch{smp(withGatewaySpec(agent, deploymentPatch(base, vocab.ProxyContainerName, g.Replicas, g.Resources, envList(g.Env), g.K8s)))},
	}
	if len(g.K8s.ServiceAnnotations) > 0 || g.K8s.ServiceType != "" {
		o.patches = append(o.patches, smp(servicePatch(base, g.K8s.ServiceAnnotations, g.K8s.ServiceType)))
	}
	if g.Name != base {
		// Renaming through patches (not a prefix) lets a gateway have any
		// name; the app label follows the name as users select by it.
		rename := func(kind string, ops ...string) patch {
			p := fmt.Sprintf("- op: replace\n  path: /metadata/name\n  value: %s\n- op: replace\n  path: /metadata/labels/app\n  value: %s\n", g.Name, g.Name)
			for _, op := range ops {
				p += fmt.Sprintf("- op: replace\n  path: %s\n  value: %s\n", op, g.Name)
			}
			return patch{Target: &patchTarget{Kind: kind, Name: base}, Patch: p}
		}
		o.patches = append(o.patches,
			rename("ServiceAccount"),
			rename("Deployment", "/spec/selector/matchLabels/app", "/spec/template/metadata/labels/app", "/spec/template/spec/serviceAccountName"),
			rename("Service", "/spec/selector/app"),
		)
	}
	return o, nil
}

// gatewayAgentPatch gives a gateway's proxy container what the injector
// gives a sidecar's (inject.GatewayProxy: environment, mounts, security
// context) and the pod its volumes, so the gateway's agent finds its token,
// the mesh root and the control plane. Ports, probe and resources stay the
// gateway's own.
func gatewayAgentPatch(cfg inject.Config, base, name string) (map[string]any, error) {
	c, vols, err := inject.GatewayProxy(cfg, name)
	if err != nil {
		return nil, err
	}
	toMap := func(v any) (any, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		var out any
		return out, json.Unmarshal(b, &out)
	}
	env, err := toMap(c.Env)
	if err != nil {
		return nil, err
	}
	mounts, err := toMap(c.VolumeMounts)
	if err != nil {
		return nil, err
	}
	sc, err := toMap(c.SecurityContext)
	if err != nil {
		return nil, err
	}
	volumes, err := toMap(vols)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": base},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{
				"name": vocab.ProxyContainerName, "args": c.Args, "env": env, "volumeMounts": mounts, "securityContext": sc,
			}},
			"volumes": volumes,
		}}},
	}, nil
}

// withGatewaySpec folds a gateway's own settings (spec, a deploymentPatch)
// into its agent patch, so that kustomize merges one strategic-merge patch
// into the Deployment, not two: each merge walks the whole Deployment with
// its schema, and the second was a fifth of a demo render. The result is
// the one the two patches gave: the spec's env entries first (kyaml puts a
// patch's list entries before the rest), replacing the agent's of the same
// name, then the agent's others in order.
func withGatewaySpec(agent, spec map[string]any) map[string]any {
	// As JSON reads them, like the agent patch: lists are []any.
	if b, err := json.Marshal(spec); err == nil {
		var plain map[string]any
		if json.Unmarshal(b, &plain) == nil {
			spec = plain
		}
	}
	env := func(c map[string]any) []any {
		l, _ := c["env"].([]any)
		return l
	}
	container := func(p map[string]any) map[string]any {
		cs, _ := dig(p, "spec", "template", "spec")["containers"].([]any)
		if len(cs) == 0 {
			return nil
		}
		c, _ := cs[0].(map[string]any)
		return c
	}
	ac, sc := container(agent), container(spec)
	merged := deepMerge(agent, spec)
	if ac == nil || sc == nil {
		return merged
	}
	out := slices.Clone(env(sc))
	for _, e := range env(ac) {
		name := e.(map[string]any)["name"]
		if !slices.ContainsFunc(out, func(x any) bool { return x.(map[string]any)["name"] == name }) {
			out = append(out, e)
		}
	}
	if mc := container(merged); mc != nil && len(out) > 0 {
		mc["env"] = out
	}
	return merged
}

// deepMerge returns a with b's fields set over it, maps merged key by key and
// a single-element list of maps (the one container of a patch) merged as
// its element; anything else of b replaces a's.
func deepMerge(a, b map[string]any) map[string]any {
	out := maps.Clone(a)
	for k, bv := range b {
		switch bt := bv.(type) {
		case map[string]any:
			if at, ok := out[k].(map[string]any); ok {
				out[k] = deepMerge(at, bt)
				continue
			}
		case []any:
			if at, ok := out[k].([]any); ok && len(at) == 1 && len(bt) == 1 {
				am, ok1 := at[0].(map[string]any)
				bm, ok2 := bt[0].(map[string]any)
				if ok1 && ok2 {
					out[k] = []any{deepMerge(am, bm)}
					continue
				}
			}
		}
		out[k] = bv
	}
	return out
}

func dig(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m, _ = m[p].(map[string]any)
	}
	return m
}

func addonOverlay(s *profiles.Spec, name string, a profiles.Addon) overlay {
	if a.Image == "" && a.Resources == (inject.Resources{}) {
		// The addons' bases carry their component label themselves
		// (TestAddonBasesCarryTheirComponentLabel): an addon as shipped
		// costs kustomize no kustomization and no label transformer.
		return overlay{base: "addons/" + name}
	}
	o := overlay{
		dir:       "addons/" + name,
		resources: []string{"../../../addons/" + name},
	}
	if a.Image != "" {
		img := splitImage(a.Image)
		img.Name = addonImages[name]
		o.images = []image{img}
	}
	if a.Resources != (inject.Resources{}) {
		o.patches = []patch{smp(deploymentPatch(name, name, 0, a.Resources, nil, profiles.K8s{}))}
	}
	return o
}

// addonImages are the upstream image names in the addon bases, which an
// Addon.Image replaces.
var addonImages = map[string]string{
	vocab.ComponentPrometheus: "prom/prometheus",
	vocab.ComponentGrafana:    "grafana/grafana",
	vocab.ComponentJaeger:     "jaegertracing/all-in-one",
	vocab.ComponentKiali:      "quay.io/kiali/kiali",
	vocab.ComponentZipkin:     "openzipkin/zipkin-slim",
}

// webhookPatches fill in the webhook entries of the revision from
// webhookconfig, the one place that says which pods and which config reach
// the server. The Service reference names the base Service; kustomize's
// name suffix and namespace transformers fix it like every other reference.
// The validation policy starts at Ignore: the server switches it to Fail once
// it serves.
func webhookPatches(s *profiles.Spec) []patch {
	o := webhookconfig.Options{
		Revision:      s.RevisionName(),
		MeshNamespace: s.MeshNamespace,
		Service:       &admissionregistrationv1.ServiceReference{Name: vocab.ServerBaseName, Namespace: vocab.DefaultMeshNamespace, Port: ptr(int32(webhookconfig.ServicePort))},
	}
	replace := func(kind string, webhooks any) patch {
		b, _ := json.Marshal([]map[string]any{{"op": "replace", "path": "/webhooks", "value": webhooks}})
		return patch{Target: &patchTarget{Kind: kind}, Patch: string(b)}
	}
	return []patch{
		replace("MutatingWebhookConfiguration", webhookconfig.Mutating(o)),
		replace("ValidatingWebhookConfiguration", webhookconfig.Validating(o, admissionregistrationv1.Ignore)),
	}
}

func smp(obj map[string]any) patch {
	b, _ := json.Marshal(obj)
	return patch{Patch: string(b)}
}

func envList(env map[string]string) []map[string]any {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []map[string]any
	for _, k := range keys {
		out = append(out, map[string]any{"name": k, "value": env[k]})
	}
	return out
}

func resourcesMap(r inject.Resources) map[string]any {
	out := map[string]any{}
	for key, amounts := range map[string]inject.ResourceAmounts{"requests": r.Requests, "limits": r.Limits} {
		m := map[string]any{}
		if amounts.CPU != "" {
			m["cpu"] = amounts.CPU
		}
		if amounts.Memory != "" {
			m["memory"] = amounts.Memory
		}
		if len(m) > 0 {
			out[key] = m
		}
	}
	return out
}

// deploymentPatch is a strategic-merge patch of a component's Deployment.
func deploymentPatch(name, container string, replicas int, res inject.Resources, env []map[string]any, k8s profiles.K8s) map[string]any {
	c := map[string]any{"name": container}
	if rm := resourcesMap(res); len(rm) > 0 {
		c["resources"] = rm
	}
	if len(env) > 0 {
		c["env"] = env
	}
	podSpec := map[string]any{"containers": []any{c}}
	if len(k8s.NodeSelector) > 0 {
		podSpec["nodeSelector"] = k8s.NodeSelector
	}
	tmpl := map[string]any{"spec": podSpec}
	if len(k8s.PodAnnotations) > 0 {
		tmpl["metadata"] = map[string]any{"annotations": k8s.PodAnnotations}
	}
	spec := map[string]any{"template": tmpl}
	if replicas > 0 {
		spec["replicas"] = replicas
	}
	return map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": name},
		"spec":       spec,
	}
}

func servicePatch(name string, annotations map[string]string, serviceType string) map[string]any {
	meta := map[string]any{"name": name}
	if len(annotations) > 0 {
		meta["annotations"] = annotations
	}
	obj := map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": meta}
	if serviceType != "" {
		obj["spec"] = map[string]any{"type": serviceType}
	}
	return obj
}
