package demo

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Every link of the demo's landing page answers: no dead /debug/pprof links.
func TestLandingPageLinksAnswer(t *testing.T) {
	work := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("done\n")) })
	mux, err := newMux("/metrics", prometheus.NewRegistry(), work)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	code, page := get("/")
	if code != http.StatusOK {
		t.Fatalf("landing page: %d", code)
	}
	links := regexp.MustCompile(`href="([^"#]+)"`).FindAllStringSubmatch(page, -1)
	if len(links) < 2 {
		t.Fatalf("want the Metrics and Work links, found %v", links)
	}
	for _, l := range links {
		path := "/" + strings.TrimPrefix(strings.ReplaceAll(l[1], "&amp;", "&"), "/")
		if code, _ := get(path); code != http.StatusOK {
			t.Errorf("landing page link %s answers %d", l[1], code)
		}
	}
}
