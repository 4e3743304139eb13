// Command vulndb turns a copy of the golang.org/x/vulndb module, as the Go
// module proxy serves it, into a vulnerability database that govulncheck
// reads with -db file:///dir, so that CI checks against a pinned database
// without reaching vuln.go.dev.
//
// The module holds one OSV report per vulnerability (data/osv/GO-*.json)
// but not the index that vuln.go.dev serves beside them; this writes both,
// in the layout of https://go.dev/security/vuln/database#api that
// govulncheck's local client reads (plain .json: a file:// database is
// read without the .json.gz that the HTTP one serves):
//
//	index/db.json       {"modified": ...}
//	index/modules.json  [{"path": ..., "vulns": [{"id", "modified", "fixed"}]}]
//	index/vulns.json    [{"id", "modified", "aliases"}]
//	ID/GO-YYYY-NNNN.json
//
// The index is computed as golang.org/x/vulndb/internal/database computes
// it for vuln.go.dev. The reports in the module carry a zero "modified"
// (vuln.go.dev's deploy takes it from git history, which a module zip has
// not), so db.json's time is the module version's commit time instead, the
// moment the snapshot was taken, which govulncheck prints as "DB updated".
//
// Usage, with the standard library only:
//
//	go mod download -json golang.org/x/vulndb@VERSION | go run .ci/vulndb/main.go -out DIR
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// download is what `go mod download -json` prints of a module.
type download struct {
	Path, Version, Dir, Info, Error string
}

// entry is what the index needs of an OSV report.
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []osvRange `json:"ranges"`
	} `json:"affected"`
}

type osvRange struct {
	Type   string `json:"type"`
	Events []struct {
		Introduced string `json:"introduced,omitempty"`
		Fixed      string `json:"fixed,omitempty"`
	} `json:"events"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Fixed    string    `json:"fixed,omitempty"`
}

type module struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type vuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

func main() {
	out := flag.String("out", "", "directory to write the database to (created)")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: go mod download -json golang.org/x/vulndb@VERSION | vulndb -out DIR")
		os.Exit(2)
	}
	if err := run(os.Stdin, *out); err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
}

func run(stdin io.Reader, out string) error {
	var d download
	if err := json.NewDecoder(stdin).Decode(&d); err != nil {
		return fmt.Errorf("reading go mod download -json: %v", err)
	}
	if d.Error != "" {
		return errors.New(d.Error)
	}
	if d.Dir == "" {
		return fmt.Errorf("%s@%s: no Dir in go mod download -json", d.Path, d.Version)
	}
	var info struct{ Time time.Time }
	if b, err := os.ReadFile(d.Info); err != nil {
		return err
	} else if err := json.Unmarshal(b, &info); err != nil {
		return fmt.Errorf("%s: %v", d.Info, err)
	}

	src := filepath.Join(d.Dir, "data", "osv")
	files, err := filepath.Glob(filepath.Join(src, "*.json"))
	if err != nil {
		return err
	}
	// A module whose layout changed must not pass for an empty database,
	// against which every module would be found clean.
	if len(files) == 0 {
		return fmt.Errorf("%s@%s: no OSV reports in %s", d.Path, d.Version, src)
	}
	if err := os.MkdirAll(filepath.Join(out, "ID"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(out, "index"), 0o755); err != nil {
		return err
	}

	modified := info.Time.UTC()
	modules := map[string]*module{}
	var vulns []vuln
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var e entry
		if err := json.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("%s: %v", f, err)
		}
		if filepath.Base(f) != e.ID+".json" {
			return fmt.Errorf("%s: holds the report %q", f, e.ID)
		}
		if err := os.WriteFile(filepath.Join(out, "ID", e.ID+".json"), b, 0o644); err != nil {
			return err
		}
		if e.Modified.After(modified) {
			modified = e.Modified
		}
		vulns = append(vulns, vuln{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		for _, a := range e.Affected {
			m := modules[a.Package.Name]
			if m == nil {
				m = &module{Path: a.Package.Name, Vulns: []moduleVuln{}}
				modules[a.Package.Name] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified, Fixed: latestFixed(a.Ranges)})
		}
	}

	mods := make([]*module, 0, len(modules))
	for _, m := range modules {
		sort.SliceStable(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })

	for name, v := range map[string]any{
		"db.json": struct {
			Modified time.Time `json:"modified"`
		}{modified},
		"modules.json": mods,
		"vulns.json":   vulns,
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "index", name), b, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "vulndb: %s@%s (%s): %d reports, %d modules\n",
		d.Path, d.Version, modified.Format(time.RFC3339), len(vulns), len(mods))
	return nil
}

// latestFixed is the version from which on no version is affected by the
// ranges, or "" if there is none (the vulnerability was reintroduced after
// its last fix, or never fixed): golang.org/x/vulndb/internal/osvutils's
// LatestFixed, which govulncheck uses to skip the reports whose fix a
// module's version already has.
func latestFixed(ranges []osvRange) string {
	var latest string
	for _, r := range ranges {
		if r.Type != "SEMVER" {
			continue
		}
		for _, e := range r.Events {
			if e.Fixed != "" && less(latest, e.Fixed) {
				latest = e.Fixed
			}
		}
		for _, e := range r.Events {
			if e.Introduced != "" && e.Introduced != "0" && less(latest, e.Introduced) {
				latest = ""
				break
			}
		}
	}
	return latest
}

// less reports whether v < w in semantic-version order, for versions with
// or without a "v" or "go" prefix, as govulncheck's semver.Less does with
// golang.org/x/mod/semver: an invalid version is below every valid one.
func less(v, w string) bool {
	return compare(canonical(v), canonical(w)) < 0
}

func canonical(v string) string {
	return "v" + strings.TrimPrefix(strings.TrimPrefix(v, "v"), "go")
}

// parsed is a semantic version split up as golang.org/x/mod/semver does.
type parsed struct {
	major, minor, patch, prerelease string
}

func compare(v, w string) int {
	pv, ok1 := parse(v)
	pw, ok2 := parse(w)
	switch {
	case !ok1 && !ok2:
		return 0
	case !ok1:
		return -1
	case !ok2:
		return 1
	}
	if c := compareInt(pv.major, pw.major); c != 0 {
		return c
	}
	if c := compareInt(pv.minor, pw.minor); c != 0 {
		return c
	}
	if c := compareInt(pv.patch, pw.patch); c != 0 {
		return c
	}
	return comparePrerelease(pv.prerelease, pw.prerelease)
}

// parse accepts vMAJOR[.MINOR[.PATCH[-PRERELEASE][+BUILD]]], the shorthands
// vMAJOR and vMAJOR.MINOR standing for .0 with no prerelease or build.
func parse(v string) (p parsed, ok bool) {
	if v == "" || v[0] != 'v' {
		return p, false
	}
	if p.major, v, ok = parseInt(v[1:]); !ok {
		return p, false
	}
	if v == "" {
		p.minor, p.patch = "0", "0"
		return p, true
	}
	if v[0] != '.' {
		return p, false
	}
	if p.minor, v, ok = parseInt(v[1:]); !ok {
		return p, false
	}
	if v == "" {
		p.patch = "0"
		return p, true
	}
	if v[0] != '.' {
		return p, false
	}
	if p.patch, v, ok = parseInt(v[1:]); !ok {
		return p, false
	}
	if v != "" && v[0] == '-' {
		i := strings.IndexByte(v, '+')
		if i < 0 {
			i = len(v)
		}
		p.prerelease, v = v[:i], v[i:]
		if !validIdents(p.prerelease[1:], true) {
			return p, false
		}
	}
	if v != "" && v[0] == '+' {
		if !validIdents(v[1:], false) {
			return p, false
		}
		v = ""
	}
	return p, v == ""
}

func parseInt(v string) (n, rest string, ok bool) {
	i := 0
	for i < len(v) && '0' <= v[i] && v[i] <= '9' {
		i++
	}
	if i == 0 || (v[0] == '0' && i != 1) {
		return "", "", false
	}
	return v[:i], v[i:], true
}

// validIdents reports whether s is dot-separated non-empty identifiers of
// [0-9A-Za-z-], numeric ones without leading zeros where prerelease.
func validIdents(s string, prerelease bool) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		for i := 0; i < len(id); i++ {
			c := id[i]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-') {
				return false
			}
		}
		if prerelease && isNum(id) && id[0] == '0' && len(id) != 1 {
			return false
		}
	}
	return true
}

func isNum(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func compareInt(x, y string) int {
	switch {
	case x == y:
		return 0
	case len(x) != len(y):
		if len(x) < len(y) {
			return -1
		}
		return 1
	case x < y:
		return -1
	default:
		return 1
	}
}

// comparePrerelease orders "-a.b" prereleases; none is above any.
func comparePrerelease(x, y string) int {
	switch {
	case x == y:
		return 0
	case x == "":
		return 1
	case y == "":
		return -1
	}
	xs, ys := strings.Split(x[1:], "."), strings.Split(y[1:], ".")
	for i := 0; i < len(xs) && i < len(ys); i++ {
		a, b := xs[i], ys[i]
		if a == b {
			continue
		}
		an, bn := isNum(a), isNum(b)
		switch {
		case an && bn:
			return compareInt(a, b)
		case an:
			return -1
		case bn:
			return 1
		case a < b:
			return -1
		default:
			return 1
		}
	}
	switch {
	case len(xs) < len(ys):
		return -1
	case len(xs) > len(ys):
		return 1
	}
	return 0
}
