package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// cpstatsServer serves a real captured cpstats page.
func cpstatsServer(t *testing.T, sample string) *httptest.Server {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "exporter", "cherrypy", "testdata", sample))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestProbeThroughExporter(t *testing.T) {
	target := cpstatsServer(t, "saturated.json").URL + "/cpstats/data"
	cfg := writeFile(t, t.TempDir(), "poolwatch.yml",
		"modules:\n  cherrypy:\n    source: cherrypy\n    timeout: 3s\n    targets: ['"+target+"']\n")
	exp := startExporter(t, "--config.file="+cfg)
	client := httpClient(nil)
	probe := func(module, target string) (int, string) {
		return get(t, client, "http://"+exp.addr+"/probe?"+url.Values{"module": {module}, "target": {target}}.Encode())
	}

	code, body := probe("cherrypy", target)
	s := parse(t, body)
	if up, _ := s.value("poolwatch_up", "source", "cherrypy"); code != 200 || up != 1 {
		t.Fatalf("allowed probe: %d\n%s", code, body)
	}
	if n := len(s["workerpool_busy_workers"].GetMetric()); n != 2 {
		t.Errorf("want the main and the stats pool, got %d busy series", n)
	}
	if _, ok := s["go_goroutines"]; ok {
		t.Error("a probe must only carry the target's series, not the exporter's own")
	}
	promtoolCheck(t, body)

	code, body = probe("cherrypy", "http://127.0.0.1:1/cpstats/data")
	if code != http.StatusForbidden || !strings.Contains(body, "not allowed") {
		t.Errorf("disallowed target: %d %s", code, body)
	}
	if !strings.Contains(exp.Log(), "refused probe") {
		t.Error("no log line for the refused probe")
	}
	if code, body = probe("nginx", target); code != http.StatusBadRequest {
		t.Errorf("unknown module: %d %s", code, body)
	}

	// POST /-/reload picks up a new allow-list.
	writeFile(t, filepath.Dir(cfg), "poolwatch.yml",
		"modules:\n  other:\n    source: cherrypy\n    targets: ['"+target+"']\n")
	resp, err := client.Post("http://"+exp.addr+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload: %s", resp.Status)
	}
	if code, _ = probe("cherrypy", target); code != http.StatusBadRequest {
		t.Errorf("module removed by the reload still answers: %d", code)
	}
	if code, _ = probe("other", target); code != 200 {
		t.Errorf("module added by the reload: %d", code)
	}
}

func TestMetricsPassPromtool(t *testing.T) {
	exp := startExporter(t, "--cherrypy.scrape-uri="+cpstatsServer(t, "servers.json").URL+"/cpstats/data")
	_, body := get(t, httpClient(nil), "http://"+exp.addr+"/metrics")
	for _, want := range []string{"poolwatch_exporter_build_info", `poolwatch_up{source="cherrypy"} 1`,
		"go_goroutines", "process_cpu_seconds_total", `workerpool_workers{pool="[::1]:`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	promtoolCheck(t, body)
}

// TLS and basic auth come from exporter-toolkit's --web.config.file.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSignedCert(t)
	writeFile(t, dir, "cert.pem", string(certPEM))
	writeFile(t, dir, "key.pem", string(keyPEM))
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := writeFile(t, dir, "web.yml", "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"+
		"basic_auth_users:\n  prometheus: "+string(hash)+"\n")
	exp := startExporter(t, "--web.config.file="+webConfig)

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	client := httpClient(&tls.Config{RootCAs: roots})
	request := func(user, password string) int {
		req, _ := http.NewRequest("GET", "https://"+exp.addr+"/metrics", nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := request("prometheus", "s3cret"); code != 200 {
		t.Errorf("right credentials: %d", code)
	}
	if code := request("", ""); code != http.StatusUnauthorized {
		t.Errorf("no credentials: %d", code)
	}
	if code := request("prometheus", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", code)
	}
	if code, _ := get(t, httpClient(nil), "http://"+exp.addr+"/metrics"); code == 200 {
		t.Error("plain HTTP answered 200 with TLS configured")
	}
}

func selfSignedCert(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "poolwatch test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
