package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A stream as govulncheck -format json writes it: a called symbol in
// x/text, the same vulnerability reached twice, one only required (no
// function), and a called one in x/net that the accepted file names.
const stream = `{"config":{"protocol_version":"v1.0.0"}}
{"finding":{"osv":"GO-2021-0113","fixed_version":"v0.3.7","trace":[{"module":"golang.org/x/text","version":"v0.3.5","package":"golang.org/x/text/language","function":"Parse"},{"module":"vt","package":"vt","function":"main"}]}}
{"finding":{"osv":"GO-2021-0113","fixed_version":"v0.3.7","trace":[{"module":"golang.org/x/text","version":"v0.3.5","package":"golang.org/x/text/language","function":"MustParse"},{"module":"vt","package":"vt","function":"init"}]}}
{"finding":{"osv":"GO-2022-0001","trace":[{"module":"golang.org/x/crypto","version":"v0.1.0"}]}}
{"finding":{"osv":"GO-2026-6603","fixed_version":"v0.60.0","trace":[{"module":"golang.org/x/net","version":"v0.57.0","package":"golang.org/x/net/http2","receiver":"*Framer","function":"ReadFrameForHeader"},{"module":"m","package":"m","function":"init"}]}}
`

func TestRun(t *testing.T) {
	accepted := filepath.Join(t.TempDir(), "accepted.txt")
	if err := os.WriteFile(accepted, []byte("# why\nGO-2026-6603 golang.org/x/net the fix needs go 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if code := run(strings.NewReader(stream), &out, accepted); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"CALLED:   GO-2021-0113 in golang.org/x/text@v0.3.5 (fixed in v0.3.7): golang.org/x/text/language.",
		"accepted: GO-2026-6603 in golang.org/x/net@v0.57.0 (fixed in v0.60.0): golang.org/x/net/http2.Framer.ReadFrameForHeader, called from m.init",
		"why: the fix needs go 1.26",
		"1 vulnerabilities called and not accepted",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Count(got, "GO-2021-0113") != 1 || strings.Contains(got, "GO-2022-0001") {
		t.Errorf("a vulnerability is listed once, and one only required not at all:\n%s", got)
	}

	out.Reset()
	clean := strings.Split(stream, "\n")[0] + "\n" + strings.Split(stream, "\n")[4] + "\n"
	if code := run(strings.NewReader(clean), &out, accepted); code != 0 {
		t.Fatalf("only accepted findings: exit %d:\n%s", code, out.String())
	}
	if code := run(strings.NewReader("{not json"), &out, accepted); code != 2 {
		t.Fatalf("unreadable input: exit %d, want 2", code)
	}
	if code := run(strings.NewReader(""), &out, filepath.Join(t.TempDir(), "missing")); code != 2 {
		t.Fatalf("a missing accepted file: exit %d, want 2", code)
	}
}

func TestReadAcceptedRefusesAShortLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accepted.txt")
	if err := os.WriteFile(path, []byte("GO-2026-6603 golang.org/x/net\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readAccepted(path); err == nil {
		t.Fatal("a line without a reason was accepted")
	}
}
