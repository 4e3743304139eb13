package overload

import (
	"os"
	"strings"
	"testing"
)

// Every problem type leads somewhere: its fragment is a heading of
// docs/problems.md, the page ProblemBase names.
func TestEveryProblemIsDocumented(t *testing.T) {
	page, err := os.ReadFile("../docs/problems.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(ProblemBase, "/docs/problems.md#") {
		t.Errorf("ProblemBase %q does not name docs/problems.md", ProblemBase)
	}
	for _, kind := range []string{ProblemOverloaded, ProblemDeadline} {
		if !strings.Contains(string(page), "\n### "+kind+"\n") {
			t.Errorf("docs/problems.md has no heading %q", "### "+kind)
		}
	}
}
