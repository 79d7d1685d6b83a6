package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/poolwatch/poolwatch/internal/testproc"
)

// External programs the test runs, where Debian installs them.
const (
	prometheusBin   = "/usr/bin/prometheus"
	alertmanagerBin = "/usr/bin/prometheus-alertmanager"
	// Debian's python3, which has python3-cherrypy3; a python3 earlier on PATH (pyenv, a
	// virtualenv) usually does not.
	pythonBin = "/usr/bin/python3"
)

// installHint names the Debian packages that provide every program above.
const installHint = "apt-get install prometheus prometheus-alertmanager python3-cherrypy3"

// requireE2E skips the test unless POOLWATCH_E2E=1, since it takes minutes and starts servers.
func requireE2E(t *testing.T) {
	t.Helper()
	if os.Getenv("POOLWATCH_E2E") != "1" {
		t.Skip("end-to-end test (Prometheus, Alertmanager, CherryPy; ~3 min): set POOLWATCH_E2E=1 or run `make e2e`")
	}
}

// requireTools checks that every external program is installed. A missing one skips the test
// with the command that installs it, except in CI (POOLWATCH_REQUIRE_TOOLS=1, testproc decides), where it fails:
// a test that passes by being skipped proves nothing. The test installs nothing itself.
func requireTools(t *testing.T) {
	t.Helper()
	var missing []string
	for _, bin := range []string{prometheusBin, alertmanagerBin, pythonBin} {
		if _, err := os.Stat(bin); err != nil {
			missing = append(missing, bin+" ("+err.Error()+")")
		}
	}
	if len(missing) == 0 {
		if out, err := exec.Command(pythonBin, "-c", "import cherrypy").CombinedOutput(); err != nil {
			missing = append(missing, pythonBin+" cannot import cherrypy ("+err.Error()+": "+string(out)+")")
		}
	}
	if len(missing) == 0 {
		return
	}
	testproc.MissingTool(t, "a program of the end-to-end test", installHint, strings.Join(missing, "; "))
}
