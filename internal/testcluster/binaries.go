package testcluster

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Binaries are the paths of the cluster's programs and kwok's data files.
type Binaries struct {
	APIServer, ControllerManager, Scheduler, Etcd, Kwok string
	KwokStages, KwokCRDs                                string
}

// FindBinaries locates the binaries that hack/cluster/build.sh built. The
// versions and cache location are read from hack/cluster/versions.sh so that
// the script stays their only source.
func FindBinaries() (*Binaries, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	vars, err := readShellVars(filepath.Join(root, "hack", "cluster", "versions.sh"))
	if err != nil {
		return nil, err
	}
	cache := os.Getenv("MESHCTL_CLUSTER_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, err
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "meshctl", "cluster")
	}
	kube := filepath.Join(cache, "kube-"+vars["KUBE_VERSION"])
	etcd := filepath.Join(cache, "etcd-"+vars["ETCD_VERSION"])
	kwok := filepath.Join(cache, "kwok-"+vars["KWOK_VERSION"])
	b := &Binaries{
		APIServer:         filepath.Join(kube, "kube-apiserver"),
		ControllerManager: filepath.Join(kube, "kube-controller-manager"),
		Scheduler:         filepath.Join(kube, "kube-scheduler"),
		Etcd:              filepath.Join(etcd, "etcd"),
		Kwok:              filepath.Join(kwok, "kwok"),
		KwokStages:        filepath.Join(kwok, "stage"),
		KwokCRDs:          filepath.Join(kwok, "crd"),
	}
	for _, p := range []string{b.APIServer, b.ControllerManager, b.Scheduler, b.Etcd, b.Kwok, b.KwokStages, b.KwokCRDs} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("local cluster binary %s is missing: run `make cluster-build` first "+
				"(the first build takes about 15 minutes, later ones reuse the cache)", p)
		}
	}
	return b, nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "cluster", "versions.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("cannot find hack/cluster/versions.sh above the working directory: run from the meshctl checkout")
		}
		dir = parent
	}
}

// readShellVars reads the plain NAME=value lines of a shell file.
func readShellVars(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		name, value, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") || strings.ContainsAny(name, " $") {
			continue
		}
		vars[name] = strings.Trim(value, `"'`)
	}
	return vars, sc.Err()
}
