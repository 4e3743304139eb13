// Command vulnfilter reads govulncheck's -format json stream on standard
// input and fails when the code calls a vulnerable symbol, unless the
// vulnerability is accepted for that module in the file named by -accepted
// (lines "OSV-ID module-path reason"; # starts a comment). It prints each
// called vulnerability once, with the call that reaches it, and the
// accepted ones with their reasons.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
}

type message struct {
	Finding *struct {
		OSV          string   `json:"osv"`
		FixedVersion string   `json:"fixed_version"`
		Trace        []*frame `json:"trace"`
	} `json:"finding"`
}

func main() {
	acceptedPath := flag.String("accepted", "", "file of accepted vulnerabilities")
	flag.Parse()
	os.Exit(run(os.Stdin, os.Stdout, *acceptedPath))
}

// run reads govulncheck's JSON from stdin, writes its verdict to stdout,
// and returns the exit code: 0 clean, 1 a called vulnerability not
// accepted, 2 input it cannot read.
func run(stdin io.Reader, stdout io.Writer, acceptedPath string) int {
	accepted, err := readAccepted(acceptedPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulnfilter:", err)
		return 2
	}
	called := map[string]string{} // "ID module" → a line to print
	dec := json.NewDecoder(bufio.NewReader(stdin))
	for {
		var m message
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "vulnfilter: reading govulncheck's output:", err)
			return 2
		}
		f := m.Finding
		if f == nil || len(f.Trace) == 0 || f.Trace[0].Function == "" {
			continue // a module or a package that is required, not a symbol that is called
		}
		vuln := f.Trace[0]
		key := f.OSV + " " + vuln.Module
		if _, seen := called[key]; seen {
			continue
		}
		entry := f.Trace[len(f.Trace)-1]
		called[key] = fmt.Sprintf("%s in %s@%s (fixed in %s): %s, called from %s",
			f.OSV, vuln.Module, vuln.Version, orNone(f.FixedVersion), symbol(vuln), symbol(entry))
	}
	keys := make([]string, 0, len(called))
	for k := range called {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	failed := 0
	for _, k := range keys {
		if why, ok := accepted[k]; ok {
			fmt.Fprintf(stdout, "accepted: %s\n          why: %s\n", called[k], why)
			continue
		}
		fmt.Fprintf(stdout, "CALLED:   %s\n", called[k])
		failed++
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%d vulnerabilities called and not accepted\n", failed)
		return 1
	}
	fmt.Fprintf(stdout, "no vulnerable symbol called (%d accepted)\n", len(keys))
	return 0
}

func symbol(f *frame) string {
	name := f.Function
	if f.Receiver != "" {
		name = strings.TrimPrefix(f.Receiver, "*") + "." + name
	}
	return f.Package + "." + name
}

func orNone(v string) string {
	if v == "" {
		return "no release"
	}
	return v
}

// readAccepted reads "OSV-ID module-path reason" lines.
func readAccepted(path string) (map[string]string, error) {
	out := map[string]string{}
	if path == "" {
		return out, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			return nil, fmt.Errorf("%s:%d: want \"OSV-ID module-path reason\"", path, i+1)
		}
		out[fields[0]+" "+fields[1]] = strings.Join(fields[2:], " ")
	}
	return out, nil
}
