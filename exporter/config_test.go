package exporter

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var testSources = map[string]Source{"cherrypy": &fakeSource{}, "fake": &fakeSource{}}

func TestLoadExampleConfig(t *testing.T) {
	cfg, err := LoadConfig("testdata/config.yml", testSources)
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Modules["cherrypy"]
	if time.Duration(m.Timeout) != 5*time.Second || m.source == nil || m.client == nil {
		t.Errorf("module not set up: %+v", m)
	}
	for target, want := range map[string]bool{
		"http://127.0.0.1:8081/cpstats/data":         true,
		"http://10.0.3.44:8081/cpstats/data":         true,
		"http://127.0.0.1:8082/cpstats/data":         false,
		"http://10.0.3.44:8081/cpstats/data?x=1":     false, // patterns are anchored
		"http://evil/?http://10.0.3.44:8081/cpstats": false,
		"http://10.0.3.44.evil:8081/cpstats/data":    false,
		"": false,
	} {
		if got := m.Allows(target); got != want {
			t.Errorf("Allows(%q) = %v, want %v", target, got, want)
		}
	}
	tls := cfg.Modules["cherrypy_tls"]
	if got := tls.HTTPClientConfig.BasicAuth.PasswordFile; got != filepath.Join("testdata", "cpstats.password") {
		t.Errorf("password_file = %q, want it relative to the config file", got)
	}
	if !tls.HTTPClientConfig.FollowRedirects {
		t.Error("HTTP client defaults were not applied")
	}
}

func TestLoadConfigRejects(t *testing.T) {
	for name, yml := range map[string]string{
		"unknown field":       "modules:\n  m:\n    source: fake\n    targets: [http://a/]\n    tiemout: 1s\n",
		"unknown top field":   "module:\n  m: {}\n",
		"unknown source":      "modules:\n  m:\n    source: nginx\n    targets: [http://a/]\n",
		"no targets":          "modules:\n  m:\n    source: fake\n",
		"bad pattern":         "modules:\n  m:\n    source: fake\n    target_patterns: ['http://(']\n",
		"relative target":     "modules:\n  m:\n    source: fake\n    targets: [127.0.0.1:8081]\n",
		"file target":         "modules:\n  m:\n    source: fake\n    targets: ['file:///etc/passwd']\n",
		"zero timeout":        "modules:\n  m:\n    source: fake\n    timeout: 0s\n    targets: [http://a/]\n",
		"bad http client":     "modules:\n  m:\n    source: fake\n    targets: [http://a/]\n    http_client_config:\n      bearer_token: x\n      basic_auth: {username: u}\n",
		"empty module":        "modules:\n  m:\n",
		"not yaml":            "modules: [\n",
		"bad timeout literal": "modules:\n  m:\n    source: fake\n    timeout: soon\n    targets: [http://a/]\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yml")
			if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadConfig(path, testSources); err == nil {
				t.Error("want an error")
			}
		})
	}
}

func TestConfigStoreKeepsOldConfigOnBadReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("modules:\n  a:\n    source: fake\n    targets: [http://a/]\n")
	store, err := NewConfigStore(path, testSources)
	if err != nil {
		t.Fatal(err)
	}
	write("modules:\n  b:\n    source: fake\n    targets: [http://b/]\n")
	if err := store.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := store.Module("b"); !ok {
		t.Fatal("reload did not take the new module")
	}
	write("modules: [broken\n")
	if err := store.Reload(); err == nil || !strings.Contains(err.Error(), "config.yml") {
		t.Errorf("err = %v, want a parse error naming the file", err)
	}
	if _, ok := store.Module("b"); !ok {
		t.Error("a bad reload dropped the working configuration")
	}
}

// The example shipped next to the CherryPy example app must stay valid.
func TestLoadShippedExampleConfig(t *testing.T) {
	cfg, err := LoadConfig("../examples/cherrypy/poolwatch_exporter.yml", testSources)
	if err != nil {
		t.Fatal(err)
	}
	if m := cfg.Modules["cherrypy"]; m == nil || !m.Allows("http://127.0.0.1:8081/cpstats/data") {
		t.Errorf("the example's cherrypy module does not allow the example app's stats page")
	}
}

// checkingSource accepts only its own scheme, as a FastCGI source does.
type checkingSource struct{ fakeSource }

func (*checkingSource) CheckTarget(target string) error {
	if !strings.HasPrefix(target, "own://") {
		return errors.New("want own://")
	}
	return nil
}

// A source with its own target check replaces the http(s) rule, both ways.
func TestLoadConfigUsesTheSourcesTargetCheck(t *testing.T) {
	sources := map[string]Source{"own": &checkingSource{}}
	for yml, ok := range map[string]bool{
		"modules:\n  m:\n    source: own\n    targets: ['own://127.0.0.1:9000/status']\n":  true,
		"modules:\n  m:\n    source: own\n    targets: ['http://127.0.0.1:9000/status']\n": false,
	} {
		path := filepath.Join(t.TempDir(), "config.yml")
		if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(path, sources); (err == nil) != ok {
			t.Errorf("LoadConfig(%q) = %v, want ok %v", yml, err, ok)
		}
	}
}

func writeConfig(t *testing.T, yml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A file without modules would silently turn every probe into a 400: refused, with the reason.
func TestLoadConfigRefusesNoModules(t *testing.T) {
	for name, yml := range map[string]string{
		"empty":        "",
		"comment only": "# modules come later\n",
		"no modules":   "modules:\n",
		"empty map":    "modules: {}\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := LoadConfig(writeConfig(t, yml), testSources); err == nil || !strings.Contains(err.Error(), "no modules") {
				t.Errorf("err = %v, want one saying there are no modules", err)
			}
		})
	}
}

// As blackbox_exporter: whether the last reload worked, and when the last one did.
func TestConfigStoreReloadMetrics(t *testing.T) {
	path := writeConfig(t, "modules:\n  a:\n    source: fake\n    targets: [http://a/]\n")
	before := float64(time.Now().Unix())
	store, err := NewConfigStore(path, testSources)
	if err != nil {
		t.Fatal(err)
	}
	metrics := func() (ok, ts float64) {
		t.Helper()
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(store)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			switch mf.GetName() {
			case "poolwatch_exporter_config_last_reload_successful":
				ok = mf.Metric[0].GetGauge().GetValue()
			case "poolwatch_exporter_config_last_reload_success_timestamp_seconds":
				ts = mf.Metric[0].GetGauge().GetValue()
			}
		}
		return ok, ts
	}
	ok, ts := metrics()
	if ok != 1 || ts < before || ts > float64(time.Now().Unix()+1) {
		t.Errorf("after the first load: successful %v, timestamp %v", ok, ts)
	}
	if err := os.WriteFile(path, []byte("# emptied by mistake\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := store.Reload(); err == nil {
		t.Fatal("an empty config was accepted on reload")
	}
	if _, found := store.Module("a"); !found {
		t.Error("the failed reload dropped the working configuration")
	}
	if ok2, ts2 := metrics(); ok2 != 0 || ts2 != ts {
		t.Errorf("after a failed reload: successful %v, timestamp %v (was %v)", ok2, ts2, ts)
	}
}

// tcpSource reads tcp:// targets: it says so with TargetChecker.
type tcpSource struct{ *fakeSource }

func (tcpSource) CheckTarget(target string) error {
	if !strings.HasPrefix(target, "tcp://") {
		return errors.New("want tcp://host:port")
	}
	return nil
}

// Each source decides which targets it reads: http(s) URLs unless it implements
// TargetChecker, in the configuration and in the single-target mode alike.
func TestTargetCheckIsPerSource(t *testing.T) {
	sources := map[string]Source{"fake": &fakeSource{}, "tcp": tcpSource{&fakeSource{}}}
	for yml, ok := range map[string]bool{
		"modules:\n  m:\n    source: tcp\n    targets: ['tcp://127.0.0.1:1717']\n":   true,
		"modules:\n  m:\n    source: tcp\n    targets: ['http://127.0.0.1:1717/']\n": false,
		"modules:\n  m:\n    source: fake\n    targets: ['tcp://127.0.0.1:1717']\n":  false,
	} {
		if _, err := LoadConfig(writeConfig(t, yml), sources); (err == nil) != ok {
			t.Errorf("%s: err = %v, want ok %v", yml, err, ok)
		}
	}
	if _, err := NewModule(tcpSource{&fakeSource{}}, "tcp://127.0.0.1:1717", time.Second); err != nil {
		t.Errorf("single target: %v", err)
	}
	if _, err := NewModule(&fakeSource{}, "unix:///run/x.sock", time.Second); err == nil {
		t.Error("an http source accepted a unix:// target")
	}
}

// Two reloads that overlap (SIGHUP and POST /-/reload, or two edits in a row) end with the
// file as it was at the later one: the earlier cannot swap its older configuration in last.
// A FIFO as the CA file holds the earlier reload mid-load, where reading certificates or
// compiling patterns takes time.
func TestConfigStoreOverlappingReloadsKeepTheLaterFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "ca.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFO:", err)
	}
	ca, err := os.ReadFile(filepath.Join("testdata", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yml")
	write := func(yml string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("modules:\n  first:\n    source: fake\n    targets: [http://a/]\n")
	store, err := NewConfigStore(path, testSources)
	if err != nil {
		t.Fatal(err)
	}

	write("modules:\n  older:\n    source: fake\n    targets: [https://a/]\n    http_client_config:\n      tls_config:\n        ca_file: " + fifo + "\n")
	older := make(chan error, 1)
	go func() { older <- store.Reload() }()
	// Opening the FIFO returns once the older reload opened it to read the CA: it has read
	// its file, and waits.
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	write("modules:\n  later:\n    source: fake\n    targets: [http://a/]\n")
	later := make(chan error, 1)
	go func() { later <- store.Reload() }()
	select {
	case err := <-later:
		later <- err // it did not wait for the older one (the bug); keep its result
	case <-time.After(500 * time.Millisecond):
	}
	// The CA is read more than once: from now on, from a plain file.
	plain := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(plain, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(plain, fifo); err != nil {
		t.Fatal(err)
	}
	w.Write(ca)
	w.Close()
	if err := <-older; err != nil {
		t.Fatal(err)
	}
	if err := <-later; err != nil {
		t.Fatal(err)
	}
	if _, ok := store.Module("later"); !ok {
		_, old := store.Module("older")
		t.Errorf("after both reloads the later file is not in force (the older one is: %v)", old)
	}
}
