package doccheck_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rtchain/rtchain/internal/doccheck"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// root is the repository's top: two folders up from this package.
const root = "../.."

// pages returns the Markdown files the checks cover: the README and docs/.
func pages(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	names, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	for _, name := range append(names, filepath.Join(root, "README.md"), filepath.Join(root, "bench", "README.md")) {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		out[name] = string(b)
	}
	return out
}

// goFiles returns every Go file of the repository, in every module.
func goFiles(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			out[path] = string(b)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// Every Go snippet of the docs stands in a Go file of the repository, which
// CI compiles: a snippet that would not compile fails here.
func TestSnippetsAreCompiledCode(t *testing.T) {
	files := goFiles(t)
	n := 0
	for page, md := range pages(t) {
		for _, s := range doccheck.Snippets(md) {
			n++
			_, ok := doccheck.Find(s, files)
			assert.True(t, ok, "%s:%d: this snippet is in no Go file (keep a compiled copy in a docs_snippets_test.go):\n%s",
				page, s.Line, strings.Join(s.Code, "\n"))
		}
	}
	assert.Positive(t, n, "the pages have snippets")
}

// Every relative link of the docs names a file or folder in the tree.
func TestLinksResolve(t *testing.T) {
	for page, md := range pages(t) {
		for _, l := range doccheck.Links(md) {
			_, err := os.Stat(filepath.Join(filepath.Dir(page), l))
			assert.NoError(t, err, "%s links to %s", page, l)
		}
	}
}

// The README is a landing page: read in five minutes.
func TestREADMEIsShort(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	lines := strings.Count(string(b), "\n")
	assert.LessOrEqual(t, lines, 150, "README.md has %d lines; move a topic to docs/", lines)
}

// The checks can fail: a snippet that is nowhere, a missing import, a link
// to nothing.
func TestChecksCanFail(t *testing.T) {
	files := map[string]string{"a.go": "import \"net/http\"\nfunc f() {\n\tx := 1\n\ty := 2\n}\n"}
	found := doccheck.Snippets("```go\nx := 1\ny := 2\n```\n")
	require.Len(t, found, 1)
	_, ok := doccheck.Find(found[0], files)
	assert.True(t, ok)
	for _, md := range []string{"```go\ny := 2\nx := 1\n```", "```go\nimport \"fmt\"\nx := 1\n```", "```go\nz := 3\n```"} {
		_, ok := doccheck.Find(doccheck.Snippets(md)[0], files)
		assert.False(t, ok, md)
	}
	assert.Equal(t, []string{"docs/x.md", "../a"}, doccheck.Links("[x](docs/x.md#top) [y](https://e.com) [z](#here) [a](../a)"))
}

func ExampleSnippets() {
	md := "Use it:\n\n```go\nimport \"github.com/rtchain/rtchain/transport\"\n\nclient := transport.NewClient()\n```\n"
	for _, s := range doccheck.Snippets(md) {
		fmt.Println(s.Line, s.Imports, s.Code)
	}
	// Output:
	// 3 [github.com/rtchain/rtchain/transport] [client := transport.NewClient()]
}

// repoURL is a link into this repository's tree, as Go code and problem
// documents give it: a path, and maybe a heading.
var repoURL = regexp.MustCompile("https://github\\.com/rtchain/rtchain/(?:blob|tree)/main/([^\\s\"'`)#>]+)(?:#([a-z0-9-]*))?")

// Every link into the repository, from Go code (problem types among them)
// or from the docs, names a file that exists and, where it names a
// heading, a heading of that file.
func TestRepositoryURLsResolve(t *testing.T) {
	sources := goFiles(t)
	for page, md := range pages(t) {
		sources[page] = md
	}
	seen := 0
	for name, text := range sources {
		for _, m := range repoURL.FindAllStringSubmatch(text, -1) {
			seen++
			target := filepath.Join(root, filepath.FromSlash(m[1]))
			if info, err := os.Stat(target); err == nil && info.IsDir() {
				if m[2] == "" {
					continue // a folder
				}
				target = filepath.Join(target, "README.md") // what GitHub shows of a folder
			}
			b, err := os.ReadFile(target)
			if !assert.NoError(t, err, "%s links to %s", name, m[0]) || m[2] == "" {
				continue
			}
			assert.Contains(t, headingAnchors(string(b)), m[2], "%s links to a heading %s doesn't have", name, m[1])
		}
	}
	assert.Positive(t, seen, "the problem types at least link into the tree")
	assert.Equal(t, map[string]bool{"key-in-use": true, "the-ietf-draft-and-where-it-departs": true},
		headingAnchors("### key-in-use\n## The IETF draft, and where it departs\ntext"))
}

// headingAnchors returns the anchors GitHub makes of a Markdown file's
// headings: lower case, spaces as hyphens, other punctuation dropped.
func headingAnchors(md string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var b strings.Builder
		for _, r := range title {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		out[b.String()] = true
	}
	return out
}

// Every problem type the server half answers with leads somewhere: each
// Problem constant of idempotency and overload is a heading of
// docs/problems.md, the page their ProblemBase names.
func TestProblemTypesHaveHeadings(t *testing.T) {
	page, err := os.ReadFile(filepath.Join(root, "docs", "problems.md"))
	require.NoError(t, err)
	anchors := headingAnchors(string(page))
	constant := regexp.MustCompile(`(?m)^\s*(Problem\w+)\s*=\s*"([^"]*)"`)
	found := 0
	for _, file := range []string{"idempotency/problem.go", "overload/problem.go"} {
		src, err := os.ReadFile(filepath.Join(root, file))
		require.NoError(t, err)
		for _, m := range constant.FindAllStringSubmatch(string(src), -1) {
			if m[1] == "ProblemBase" {
				assert.True(t, strings.HasSuffix(m[2], "/docs/problems.md#"), "%s: ProblemBase %q", file, m[2])
				continue
			}
			found++
			assert.True(t, anchors[m[2]], "%s: %s (%q) has no heading in docs/problems.md", file, m[1], m[2])
		}
	}
	assert.GreaterOrEqual(t, found, 11, "the constants were found")
}
