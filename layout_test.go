package semvec_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/semvec-go/semvec"

// TestImportArrows keeps the dependency arrows pointing one way:
// cmd → http → actors → vecmath, actors → persistence, the root package at
// the bottom; inside cmd, a command may import its own packages. It fails when an arrow runs backwards.
func TestImportArrows(t *testing.T) {
	forbidden := map[string][]string{
		".":             {module + "/", "github.com/"},
		"vecmath":       {module + "/", "github.com/", "golang.org/", "google.golang.org/"},
		"persistence":   {module + "/actors", module + "/http", module + "/cmd", "github.com/gin-gonic", "github.com/asynkron"},
		"actors":        {module + "/http", module + "/cmd", "github.com/gin-gonic", "net/http"},
		"actors/engine": {module + "/http", module + "/cmd", module + "/persistence", "github.com/asynkron", "github.com/gin-gonic"},
		"vecmath/embed": {module + "/actors", module + "/http", module + "/cmd", module + "/persistence"},
		"http":          {module + "/cmd"},
		"proto":         {module + "/"},
	}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			// Only a command imports its own packages (cmd/semvec/server).
			if (p == module+"/cmd" || strings.HasPrefix(p, module+"/cmd/")) && !strings.HasPrefix(p, module+"/"+dir+"/") {
				t.Errorf("%s imports %s: nothing imports cmd", path, p)
			}
			rules := forbidden[dir]
			if strings.HasPrefix(dir, "http/") {
				rules = forbidden["http"]
			}
			for _, bad := range rules {
				allowed := dir == "." && p == module // root may not import itself anyway
				if !allowed && strings.HasPrefix(p, bad) && !(dir == "vecmath/embed" && p == module) {
					t.Errorf("%s imports %s: %s must not depend on %s", path, p, dir, bad)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
