package install

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DirIndex is the file in which WriteDir records the files it wrote, so that
// a later WriteDir removes those that are no longer rendered, and nothing
// else.
const DirIndex = ".meshctl-manifest"

// DirResult says what WriteDir did.
type DirResult struct {
	Written []string // file names, in component order
	Removed []string // stale files of an earlier WriteDir
	// Kept are stale names of an earlier WriteDir that are no longer a
	// regular file (someone replaced them): not removed.
	Kept []string
}

// WriteDir writes one <component>.yaml per component into dir, each starting
// with "---". Every file is written to a new temporary file in dir and
// renamed over its name, so a reader never sees half a file and a symlink
// planted at a name is replaced, never written through; nothing is renamed
// until every file is written. Files an earlier WriteDir wrote (DirIndex)
// that this render no longer has are removed; other files in dir are left
// alone.
func WriteDir(dir string, m *Manifest) (DirResult, error) {
	var res DirResult
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	type file struct{ name, tmp string }
	var files []file
	cleanup := func() {
		for _, f := range files {
			if f.tmp != "" {
				_ = os.Remove(f.tmp)
			}
		}
	}
	for _, c := range m.Components {
		name := c.Name + ".yaml"
		if filepath.Base(name) != name || strings.HasPrefix(name, ".") {
			cleanup()
			return res, fmt.Errorf("component name %q cannot be a file name", c.Name)
		}
		b, err := ObjectsYAML(c.Objects)
		if err != nil {
			cleanup()
			return res, err
		}
		tmp, err := writeTemp(dir, name, append([]byte("---\n"), b...))
		if err != nil {
			cleanup()
			return res, err
		}
		files = append(files, file{name, tmp})
	}
	var index bytes.Buffer
	index.WriteString("# Files written by meshctl manifest generate -o; the next run removes those it no longer renders.\n")
	for _, f := range files {
		index.WriteString(f.name + "\n")
	}
	indexTmp, err := writeTemp(dir, DirIndex, index.Bytes())
	if err != nil {
		cleanup()
		return res, err
	}
	previous := readDirIndex(dir)
	for i, f := range files {
		if err := os.Rename(f.tmp, filepath.Join(dir, f.name)); err != nil {
			cleanup()
			_ = os.Remove(indexTmp)
			return res, fmt.Errorf("writing %s: %w", filepath.Join(dir, f.name), err)
		}
		files[i].tmp = ""
		res.Written = append(res.Written, f.name)
	}
	if err := os.Rename(indexTmp, filepath.Join(dir, DirIndex)); err != nil {
		_ = os.Remove(indexTmp)
		return res, err
	}
	current := map[string]bool{}
	for _, f := range files {
		current[f.name] = true
	}
	for _, old := range previous {
		if current[old] {
			continue
		}
		p := filepath.Join(dir, old)
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return res, err
		case !fi.Mode().IsRegular():
			res.Kept = append(res.Kept, old)
		default:
			if err := os.Remove(p); err != nil {
				return res, err
			}
			res.Removed = append(res.Removed, old)
		}
	}
	return res, nil
}

// writeTemp writes b to a new file in dir (created exclusively, so never
// through a symlink) and returns its path.
func writeTemp(dir, name string, b []byte) (string, error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// readDirIndex returns the plain file names an earlier WriteDir recorded;
// an index that is not a regular file is ignored.
func readDirIndex(dir string) []string {
	p := filepath.Join(dir, DirIndex)
	if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		// Only names this function can have written: no paths, no hidden
		// files, .yaml.
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ".") || filepath.Base(l) != l || !strings.HasSuffix(l, ".yaml") {
			continue
		}
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}
