// Command testreport turns `go test -json` into what `make test` shows: a line per package
// as `go test` prints it, the output of every failed test, every skipped test with its
// reason, and at the very end one summary line, `N passed, N failed, N skipped`, which CI
// reads.
//
//	go test -json ./... | go run ./internal/testreport stream .build/test/unit.json
//	go run ./internal/testreport summary .build/test
//
// stream copies the events it reads to the file given (for the summary) and exits 1 if a
// test or a package failed. summary reads every *.json file of the directory, and every
// *.step file (a non-Go step of `make test`: its name, then "ok" or "FAIL"), and exits 1 if
// anything failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: testreport stream [-v] FILE.json < go-test-json | testreport summary DIR")
		os.Exit(2)
	}
	var err error
	var ok bool
	switch os.Args[1] {
	case "stream":
		verbose := os.Args[2] == "-v"
		path := os.Args[len(os.Args)-1]
		ok, err = stream(os.Stdin, os.Stdout, path, verbose)
	case "summary":
		ok, err = summary(os.Stdout, os.Args[2])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Time    time.Time `json:"Time"`
	Action  string    `json:"Action"`
	Package string    `json:"Package"`
	Test    string    `json:"Test,omitempty"`
	Elapsed float64   `json:"Elapsed,omitempty"`
	Output  string    `json:"Output,omitempty"`
}

// results gathers what happened to every test and package.
type results struct {
	output  map[string][]string // "pkg\x00test" (test "" for the package) -> output lines
	passed  []string
	failed  []string
	skipped []skip
	// failedTests counts the failed tests of each package: a package that fails because
	// of them is not counted again; one that fails with none (a build error, a panic in
	// TestMain) is.
	failedTests map[string]int
}

type skip struct{ name, reason string }

func newResults() *results {
	return &results{output: map[string][]string{}, failedTests: map[string]int{}}
}

func key(pkg, test string) string { return pkg + "\x00" + test }

// add records one event; it returns the lines to print for it in the streamed output.
func (r *results) add(e event, verbose bool) (print []string) {
	k := key(e.Package, e.Test)
	name := e.Package
	if e.Test != "" {
		name += " " + e.Test
	}
	switch e.Action {
	case "output", "build-output":
		r.output[k] = append(r.output[k], e.Output)
		if verbose {
			return []string{e.Output}
		}
		// A package's own lines (ok, FAIL, build errors) are what `go test` prints.
		if e.Test == "" && e.Action == "output" && !strings.HasPrefix(e.Output, "PASS\n") &&
			!strings.HasPrefix(e.Output, "FAIL\n") && !strings.HasPrefix(e.Output, "=== ") {
			return []string{e.Output}
		}
		if e.Action == "build-output" {
			return []string{e.Output}
		}
	case "pass":
		if e.Test != "" {
			r.passed = append(r.passed, name)
		}
		delete(r.output, k)
	case "skip":
		if e.Test == "" {
			delete(r.output, k) // a package without tests
			return nil
		}
		s := skip{name: name, reason: skipReason(r.output[k])}
		r.skipped = append(r.skipped, s)
		delete(r.output, k)
		if !verbose {
			return []string{fmt.Sprintf("--- SKIP: %s: %s\n", name, s.reason)}
		}
	case "fail":
		if e.Test != "" {
			r.failedTests[e.Package]++
			r.failed = append(r.failed, name)
		} else if r.failedTests[e.Package] == 0 {
			r.failed = append(r.failed, name+" (the package itself)")
		}
		out := r.output[k]
		delete(r.output, k)
		if !verbose && e.Test != "" {
			return out
		}
	}
	return nil
}

// skipReason is the message given to t.Skip: the last line of the test's own output that
// is not one of go test's headers.
func skipReason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- ") {
			continue
		}
		return l
	}
	return "(no reason given)"
}

// dedupe keeps one result per test across the reports: a test that one step skipped and
// another ran (the end-to-end test, skipped by `go test ./...` and run by `make e2e`)
// counts as what it did when it ran. A failure anywhere stays a failure.
func (r *results) dedupe() {
	failed := map[string]bool{}
	for _, f := range r.failed {
		failed[f] = true
	}
	passed := map[string]bool{}
	var keep []string
	for _, p := range r.passed {
		if !failed[p] && !passed[p] {
			keep = append(keep, p)
		}
		passed[p] = true
	}
	r.passed = keep
	var skipped []skip
	seen := map[string]bool{}
	for _, s := range r.skipped {
		if !failed[s.name] && !passed[s.name] && !seen[s.name] {
			skipped = append(skipped, s)
		}
		seen[s.name] = true
	}
	r.skipped = skipped
}

func read(in io.Reader, each func(e event, line []byte) error) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			// Not an event (go vet or the linker writing to stdout): pass it on.
			if err := each(event{Action: "output", Output: string(line) + "\n"}, nil); err != nil {
				return err
			}
			continue
		}
		if err := each(e, line); err != nil {
			return err
		}
	}
	return sc.Err()
}

func stream(in io.Reader, out io.Writer, path string, verbose bool) (ok bool, err error) {
	f, err := os.Create(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	r := newResults()
	packages := 0
	err = read(in, func(e event, line []byte) error {
		if line != nil {
			w.Write(line)
			w.WriteByte('\n')
			if e.Test == "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip") {
				packages++
			}
		}
		for _, l := range r.add(e, verbose) {
			if _, err := io.WriteString(out, l); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if err := w.Flush(); err != nil {
		return false, err
	}
	if packages == 0 {
		fmt.Fprintln(out, "testreport: go test reported no package")
		return false, nil
	}
	return len(r.failed) == 0, nil
}

func summary(out io.Writer, dir string) (ok bool, err error) {
	r := newResults()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return false, err
		}
		err = read(f, func(e event, line []byte) error {
			if line != nil {
				r.add(e, false)
			}
			return nil
		})
		f.Close()
		if err != nil {
			return false, err
		}
	}
	steps, _ := filepath.Glob(filepath.Join(dir, "*.step"))
	sort.Strings(steps)
	var stepLine []string
	for _, path := range steps {
		data, err := os.ReadFile(path)
		if err != nil {
			return false, err
		}
		name, status, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
		stepLine = append(stepLine, name+" "+status)
		if status == "ok" {
			r.passed = append(r.passed, "make "+name)
		} else {
			r.failed = append(r.failed, "make "+name)
		}
	}

	r.dedupe()
	fmt.Fprintln(out)
	fmt.Fprintln(out, "== test summary")
	if len(stepLine) > 0 {
		fmt.Fprintf(out, "steps: %s\n", strings.Join(stepLine, ", "))
	}
	if len(r.skipped) > 0 {
		fmt.Fprintf(out, "skipped (%d):\n", len(r.skipped))
		for _, s := range r.skipped {
			fmt.Fprintf(out, "  %s: %s\n", s.name, s.reason)
		}
	}
	if len(r.failed) > 0 {
		fmt.Fprintf(out, "failed (%d):\n", len(r.failed))
		for _, f := range r.failed {
			fmt.Fprintf(out, "  %s\n", f)
		}
	}
	fmt.Fprintf(out, "%d passed, %d failed, %d skipped\n", len(r.passed), len(r.failed), len(r.skipped))
	return len(r.failed) == 0, nil
}
