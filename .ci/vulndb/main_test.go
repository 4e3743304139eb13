package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A module copy with two reports becomes a database in the layout
// govulncheck reads: the reports by ID, and the three index files.
func TestRunWritesTheIndex(t *testing.T) {
	dir := t.TempDir()
	osv := filepath.Join(dir, "data", "osv")
	if err := os.MkdirAll(osv, 0o755); err != nil {
		t.Fatal(err)
	}
	reports := map[string]string{
		"GO-2021-0113": `{"id":"GO-2021-0113","modified":"0001-01-01T00:00:00Z","aliases":["CVE-2021-38561"],
			"affected":[{"package":{"name":"golang.org/x/text"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.3.7"}]}]}]}`,
		"GO-2022-0001": `{"id":"GO-2022-0001","modified":"0001-01-01T00:00:00Z",
			"affected":[{"package":{"name":"golang.org/x/text"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.3.8"},{"introduced":"0.4.0"}]}]},
			{"package":{"name":"stdlib"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.19.1"}]}]}]}`,
	}
	for id, body := range reports {
		if err := os.WriteFile(filepath.Join(osv, id+".json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	info := filepath.Join(dir, "v.info")
	if err := os.WriteFile(info, []byte(`{"Time":"2026-11-05T23:49:57Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	stdin, _ := json.Marshal(download{Path: "golang.org/x/vulndb", Version: "v0.0.0-x", Dir: dir, Info: info})
	if err := run(strings.NewReader(string(stdin)), out); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got, want := read("index/db.json"), `{"modified":"2026-11-05T23:49:57Z"}`; got != want {
		t.Errorf("db.json = %s, want %s", got, want)
	}
	// x/text's second report was reintroduced after its fix: no fixed version.
	want := `[{"path":"golang.org/x/text","vulns":[{"id":"GO-2021-0113","modified":"0001-01-01T00:00:00Z","fixed":"0.3.7"},` +
		`{"id":"GO-2022-0001","modified":"0001-01-01T00:00:00Z"}]},` +
		`{"path":"stdlib","vulns":[{"id":"GO-2022-0001","modified":"0001-01-01T00:00:00Z","fixed":"1.19.1"}]}]`
	if got := read("index/modules.json"); got != want {
		t.Errorf("modules.json =\n%s\nwant\n%s", got, want)
	}
	if got := read("ID/GO-2021-0113.json"); got != reports["GO-2021-0113"] {
		t.Errorf("the report is not copied as it was")
	}
	if !strings.Contains(read("index/vulns.json"), `"aliases":["CVE-2021-38561"]`) {
		t.Errorf("vulns.json lost the aliases: %s", read("index/vulns.json"))
	}
}

// A module copy without reports is an error, never an empty database that
// would find every module clean.
func TestRunRefusesAnEmptyModule(t *testing.T) {
	dir := t.TempDir()
	info := filepath.Join(dir, "v.info")
	if err := os.WriteFile(info, []byte(`{"Time":"2026-11-05T23:49:57Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	stdin, _ := json.Marshal(download{Path: "golang.org/x/vulndb", Version: "v0", Dir: dir, Info: info})
	if err := run(strings.NewReader(string(stdin)), t.TempDir()); err == nil || !strings.Contains(err.Error(), "no OSV reports") {
		t.Fatalf("err = %v", err)
	}
	if err := run(strings.NewReader(`{"Error":"unknown revision"}`), t.TempDir()); err == nil {
		t.Fatal("a failed download passed")
	}
}

// Versions are ordered as golang.org/x/mod/semver orders them, with or
// without a "v" or "go" prefix; an invalid one is below every valid one.
func TestLess(t *testing.T) {
	for _, c := range []struct {
		v, w string
		want bool
	}{
		{"0.3.7", "0.3.10", true},
		{"v0.3.10", "0.3.7", false},
		{"1.19.1", "go1.19.1", false},
		{"1.0.0-rc.1", "1.0.0", true},
		{"1.0.0-alpha.2", "1.0.0-alpha.10", true},
		{"1.0.0-alpha", "1.0.0-alpha.1", true},
		{"2.0.0", "1.99.99", false},
		{"", "0.0.1", true},
		{"01.2.3", "0.0.1", true}, // invalid: a leading zero
	} {
		if got := less(c.v, c.w); got != c.want {
			t.Errorf("less(%q, %q) = %v, want %v", c.v, c.w, got, c.want)
		}
	}
}
