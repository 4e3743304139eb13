// Package doccheck holds the documentation to what the code is: every Go
// snippet of the README and of docs/ must stand, line for line, in a Go
// file of the repository (a compiled copy, kept in docs_snippets_test.go
// files), and every relative link must name a file in the tree. Its test
// runs in CI with the main module's.
//
// Snippets reports a Markdown text's Go snippets; Find reports the file
// that holds one; Links reports its relative links.
package doccheck

import (
	"regexp"
	"strings"
)

// A Snippet is one ```go block of a Markdown text.
type Snippet struct {
	Line    int      // the line of its opening fence, from 1
	Code    []string // its lines, each with runs of white space folded
	Imports []string // the paths it imports, which Find also asks of the file
}

// Snippets returns the Go snippets of md, in order.
func Snippets(md string) []Snippet {
	var out []Snippet
	var cur *Snippet
	inImport := false
	for i, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && trimmed == "```go":
			cur = &Snippet{Line: i + 1}
		case cur == nil:
		case trimmed == "```":
			out = append(out, *cur)
			cur = nil
		case inImport:
			if trimmed == ")" {
				inImport = false
			} else if p := importPath(trimmed); p != "" {
				cur.Imports = append(cur.Imports, p)
			}
		case trimmed == "import (":
			inImport = true
		case strings.HasPrefix(trimmed, "import "):
			cur.Imports = append(cur.Imports, importPath(strings.TrimPrefix(trimmed, "import ")))
		case trimmed != "":
			cur.Code = append(cur.Code, fold(trimmed))
		}
	}
	return out
}

var quoted = regexp.MustCompile(`"([^"]+)"`)

// importPath returns the path of an import spec (with or without a name).
func importPath(spec string) string {
	if m := quoted.FindStringSubmatch(spec); m != nil {
		return m[1]
	}
	return ""
}

func fold(s string) string { return strings.Join(strings.Fields(s), " ") }

// Find returns the name of the first of files (name → content) whose lines,
// white space folded and blank lines left out, hold s's code as a run of
// consecutive lines, and that imports every path s imports.
func Find(s Snippet, files map[string]string) (string, bool) {
	for name, content := range files {
		var lines []string
		for _, l := range strings.Split(content, "\n") {
			if t := strings.TrimSpace(l); t != "" {
				lines = append(lines, fold(t))
			}
		}
		if holds(lines, s.Code) && importsAll(content, s.Imports) {
			return name, true
		}
	}
	return "", false
}

func holds(lines, run []string) bool {
	if len(run) == 0 {
		return true
	}
	for i := 0; i+len(run) <= len(lines); i++ {
		match := true
		for j, want := range run {
			if lines[i+j] != want {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

func importsAll(content string, paths []string) bool {
	for _, p := range paths {
		if !strings.Contains(content, `"`+p+`"`) {
			return false
		}
	}
	return true
}

var link = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// Links returns the relative links of md (no scheme, no pure #anchor),
// with any #anchor cut off.
func Links(md string) []string {
	var out []string
	for _, m := range link.FindAllStringSubmatch(md, -1) {
		target := m[1]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		if i := strings.IndexByte(target, '#'); i >= 0 {
			target = target[:i]
		}
		out = append(out, target)
	}
	return out
}
