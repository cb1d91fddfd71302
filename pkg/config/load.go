package config

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// LoadFiles parses every path: a file (any extension), a directory (its
// .yaml, .yml and .json files; subdirectories too when recursive) or "-" for
// stdin. The error is for paths that cannot be read at all; everything else
// is returned as ParseErrors next to the resources that did parse.
func LoadFiles(paths []string, recursive bool, stdin io.Reader) ([]*Resource, []*ParseError, error) {
	var (
		rs   []*Resource
		errs []*ParseError
	)
	add := func(name string, data []byte) {
		r, e := Parse(name, data)
		rs = append(rs, r...)
		errs = append(errs, e...)
	}
	for _, p := range paths {
		if p == "-" {
			if stdin == nil {
				return nil, nil, fmt.Errorf("cannot read standard input: none is attached")
			}
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, nil, fmt.Errorf("reading standard input: %w", err)
			}
			add("-", data)
			continue
		}
		files, err := expand(p, recursive)
		if err != nil {
			return nil, nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, nil, fmt.Errorf("reading %s: %w", f, err)
			}
			add(f, data)
		}
	}
	return rs, errs, nil
}

// ExpandPaths turns file arguments into files: "-" (standard input) and plain
// files stay as they are, a directory contributes its .yaml, .yml and .json
// files in name order (its subdirectories too when recursive). Every command
// that reads manifests (analyze, validate, config diff, kube-inject) takes its
// inputs this way, so -f and -R mean the same everywhere.
func ExpandPaths(paths []string, recursive bool) ([]string, error) {
	var out []string
	for _, p := range paths {
		if p == "-" {
			out = append(out, p)
			continue
		}
		files, err := expand(p, recursive)
		if err != nil {
			return nil, err
		}
		out = append(out, files...)
	}
	return out, nil
}

func expand(p string, recursive bool) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s: no such file or directory; check the path given with -f", p)
		}
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != p && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading directory %s: %w", p, err)
	}
	sort.Strings(files)
	return files, nil
}
