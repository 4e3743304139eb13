package figures_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/rtchain/rtchain/bench/figures"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSaveWritesOnlyWhenAsked(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(figures.EnvDir, "")
	if err := figures.Save("x", 1); err != nil || figures.Enabled() {
		t.Fatalf("Save without %s: %v, enabled %v", figures.EnvDir, err, figures.Enabled())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("wrote %d files", len(entries))
	}
	t.Setenv(figures.EnvDir, dir)
	want := []figures.Amplified{{Client: "rtchain", Ratio: 0.03}}
	if err := figures.Save("amplification", want); err != nil {
		t.Fatal(err)
	}
	var got []figures.Amplified
	if err := figures.Load(dir, "amplification", &got); err != nil || len(got) != 1 || got[0] != want[0] {
		t.Fatalf("Load: %v, %v", got, err)
	}
	if err := figures.Load(dir, "missing", &got); err == nil {
		t.Fatal("Load of a chart never measured: no error")
	}
}

func TestMachineSaysWhere(t *testing.T) {
	m := figures.Machine()
	for _, want := range []string{"cores", "go1."} {
		if !strings.Contains(m, want) {
			t.Errorf("%q lacks %q", m, want)
		}
	}
}

// A test saves what it measured; cmd/figures loads it and draws.
func Example() {
	dir, _ := os.MkdirTemp("", "figures")
	defer os.RemoveAll(dir)
	_ = figures.SaveTo(dir, "amplification", []figures.Amplified{{Client: "rtchain", Ratio: 0.03}})
	var got []figures.Amplified
	_ = figures.Load(dir, "amplification", &got)
	fmt.Printf("%s: %.2f requests per call\n", got[0].Client, got[0].Ratio)
	// Output: rtchain: 0.03 requests per call
}
