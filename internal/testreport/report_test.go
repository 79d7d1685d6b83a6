package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A `go test -json` stream as Go 1.26 writes it: a pass, a skip with its reason, a failed
// subtest, and a package that does not build.
const captured = `{"Action":"start","Package":"example.com/a"}
{"Action":"run","Package":"example.com/a","Test":"TestOK"}
{"Action":"output","Package":"example.com/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"example.com/a","Test":"TestOK","Output":"--- PASS: TestOK (0.00s)\n"}
{"Action":"pass","Package":"example.com/a","Test":"TestOK","Elapsed":0}
{"Action":"run","Package":"example.com/a","Test":"TestTool"}
{"Action":"output","Package":"example.com/a","Test":"TestTool","Output":"=== RUN   TestTool\n"}
{"Action":"output","Package":"example.com/a","Test":"TestTool","Output":"    a_test.go:9: php-fpm is not available (exec: not found); install it: make deps\n"}
{"Action":"output","Package":"example.com/a","Test":"TestTool","Output":"--- SKIP: TestTool (0.00s)\n"}
{"Action":"skip","Package":"example.com/a","Test":"TestTool","Elapsed":0}
{"Action":"run","Package":"example.com/a","Test":"TestBad"}
{"Action":"run","Package":"example.com/a","Test":"TestBad/sub"}
{"Action":"output","Package":"example.com/a","Test":"TestBad/sub","Output":"    a_test.go:20: got 1, want 2\n"}
{"Action":"fail","Package":"example.com/a","Test":"TestBad/sub","Elapsed":0}
{"Action":"fail","Package":"example.com/a","Test":"TestBad","Elapsed":0}
{"Action":"output","Package":"example.com/a","Output":"FAIL\texample.com/a\t0.01s\n"}
{"Action":"fail","Package":"example.com/a","Elapsed":0.01}
{"ImportPath":"example.com/b","Action":"build-output","Output":"b.go:3:1: syntax error\n"}
{"Action":"start","Package":"example.com/b"}
{"Action":"output","Package":"example.com/b","Output":"FAIL\texample.com/b [build failed]\n"}
{"Action":"fail","Package":"example.com/b","Elapsed":0}
`

func TestStreamAndSummary(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	ok, err := stream(strings.NewReader(captured), &out, filepath.Join(dir, "unit.json"), false)
	if err != nil || ok {
		t.Fatalf("stream: ok=%v err=%v, want a failure", ok, err)
	}
	for _, want := range []string{
		"--- SKIP: example.com/a TestTool: a_test.go:9: php-fpm is not available (exec: not found); install it: make deps\n",
		"a_test.go:20: got 1, want 2",
		"FAIL\texample.com/a\t0.01s\n",
		"b.go:3:1: syntax error",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stream output lacks %q:\n%s", want, out.String())
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "lint.step"), []byte("lint ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	ok, err = summary(&out, dir)
	if err != nil || ok {
		t.Fatalf("summary: ok=%v err=%v, want a failure", ok, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// Passed: TestOK and the lint step; failed: the subtest, its parent, and package b
	// (a build failure has no test to blame; package a's failure is its tests').
	if last := lines[len(lines)-1]; last != "2 passed, 3 failed, 1 skipped" {
		t.Errorf("last line %q:\n%s", last, out.String())
	}
	if !strings.Contains(out.String(), "  example.com/a TestTool: a_test.go:9: php-fpm is not available") {
		t.Errorf("the skip and its reason are not listed:\n%s", out.String())
	}
}

// The end-to-end test is skipped by the unit step's `go test ./...` and run by `make e2e`:
// it is one test, and it passed.
func TestSummaryCountsARunOverASkip(t *testing.T) {
	dir := t.TempDir()
	unit := `{"Action":"output","Package":"p/e2e","Test":"TestE2E","Output":"    e2e_test.go:5: set POOLWATCH_E2E=1\n"}
{"Action":"skip","Package":"p/e2e","Test":"TestE2E"}
{"Action":"skip","Package":"p/other","Test":"TestCapture"}
{"Action":"pass","Package":"p/e2e"}
`
	e2e := `{"Action":"pass","Package":"p/e2e","Test":"TestE2E"}
{"Action":"pass","Package":"p/e2e"}
`
	for name, content := range map[string]string{"unit.json": unit, "e2e.json": e2e} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if ok, err := summary(&out, dir); !ok || err != nil {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if !strings.HasSuffix(out.String(), "\n1 passed, 0 failed, 1 skipped\n") || strings.Contains(out.String(), "POOLWATCH_E2E") {
		t.Errorf("summary:\n%s", out.String())
	}
}

func TestStreamWithoutPackagesFails(t *testing.T) {
	ok, err := stream(strings.NewReader("go: no Go files\n"), &bytes.Buffer{}, filepath.Join(t.TempDir(), "x.json"), false)
	if err != nil || ok {
		t.Fatalf("ok=%v err=%v: a run that tested nothing passed", ok, err)
	}
}
