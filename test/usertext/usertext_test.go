// Package usertext checks the text operators read: CRD descriptions (kubectl explain), samples,
// the Helm chart and monitoring files, every string literal of the program (admission errors,
// condition messages, events, logs, command output) and the README. They name Windows behaviour, never the project's internal reference
// numbers ("seed 002"), which mean nothing outside this repository. Code comments may cite them.
package usertext

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// internalReference matches "seed 002", "Seed 000", "seed-001", "seeds 001/002".
var internalReference = regexp.MustCompile(`(?i)\bseeds? ?-?0\d\d`)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// operatorFile: manifests, chart and monitoring files operators install and read (CRDs with
// their descriptions, samples, dashboards, alerts).
func operatorFile(rel string) bool {
	top := strings.SplitN(filepath.ToSlash(rel), "/", 2)[0]
	ext := filepath.Ext(rel)
	return (top == "config" || top == "charts") && (ext == ".yaml" || ext == ".yml" || ext == ".json" || ext == ".md" || ext == ".tpl" || ext == ".txt")
}

// skipDir leaves out what is not the project's text: build output, caches, git.
func skipDir(name string) bool {
	return name == ".git" || name == "bin" || name == ".demo" || name == ".samba" || name == "node_modules" || name == "testdata"
}

func TestUserFacingTextNamesNoInternalReference(t *testing.T) {
	root := repoRoot()
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if path != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go"):
			found = append(found, goLiterals(t, path, rel)...)
		case rel == "README.md" || operatorFile(rel):
			if internalReference.MatchString(filepath.Base(rel)) {
				found = append(found, rel+": file name")
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(data), "\n") {
				if internalReference.MatchString(line) {
					found = append(found, rel+":"+strconv.Itoa(i+1)+": "+strings.TrimSpace(line))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("internal reference in user-facing text (name the Windows behaviour instead): %s", f)
	}
}

// goLiterals returns the string literals of a Go file that cite an internal reference
// (comments are not literals: they may).
func goLiterals(t *testing.T, path, rel string) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("parse %s: %v", rel, err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if ok && lit.Kind == token.STRING && internalReference.MatchString(lit.Value) {
			out = append(out, rel+":"+strconv.Itoa(fset.Position(lit.Pos()).Line)+": "+lit.Value)
		}
		return true
	})
	return out
}

func TestInternalReferencePattern(t *testing.T) {
	for s, want := range map[string]bool{
		"(seed 002)": true, "Seed 000 says": true, "seeds 001": true, "seed-003": true,
		"seed 1 of the fleet": false, "--seed 3": false, "seeded 002": false, "Windows LAPS policy settings": false,
	} {
		if internalReference.MatchString(s) != want {
			t.Errorf("%q: matched %v", s, !want)
		}
	}
}
