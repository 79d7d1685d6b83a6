package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// Every link of the landing page leads somewhere: a newcomer's first click must not be a
// 404. /probe, linked when modules are configured, answers 400 without its parameters,
// which says what it needs.
func TestLandingPageLinksAnswer(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "poolwatch.yml",
		"modules:\n  cherrypy:\n    source: cherrypy\n    targets: ['http://127.0.0.1:1/cpstats/data']\n")
	exp := startExporter(t, "--config.file="+cfg)
	client := httpClient(nil)
	code, page := get(t, client, "http://"+exp.addr+"/")
	if code != http.StatusOK {
		t.Fatalf("landing page: %d", code)
	}
	if strings.Contains(page, "debug/pprof") {
		t.Error("the landing page links /debug/pprof, which the exporter does not serve")
	}
	if !strings.Contains(page, "version=") || strings.Contains(page, "version=,") {
		t.Errorf("the landing page shows no version: %s", page)
	}
	links := regexp.MustCompile(`href="([^"#]+)"`).FindAllStringSubmatch(page, -1)
	if len(links) < 2 {
		t.Fatalf("expected the Metrics and Probe links, found %v", links)
	}
	for _, l := range links {
		href := l[1]
		if strings.HasPrefix(href, "http") {
			continue // external (none today)
		}
		code, _ := get(t, client, "http://"+exp.addr+"/"+strings.TrimPrefix(href, "/"))
		if code == http.StatusNotFound || code >= 500 {
			t.Errorf("landing page link %s answers %d", href, code)
		}
	}
}
