package cherrypy

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/poolwatch/poolwatch/exporter"
)

func TestSourceRead(t *testing.T) {
	idle := load(t, "idle.json")
	badPool := mutate(t, func(_, m, _ map[string]any) { m["Threads Idle"] = 9.0 })
	for name, tc := range map[string]struct {
		status  int
		body    []byte
		pools   int
		wantErr string
		wantLog string
	}{
		"idle":            {200, idle, 2, "", ""},
		"one bad pool":    {200, badPool, 1, "", "9 idle threads out of 4"},
		"wrong path":      {404, []byte("Not Found"), 0, "404", ""},
		"server error":    {500, []byte("Traceback"), 0, "500", ""},
		"malformed":       {200, idle[:len(idle)/2], 0, "malformed", ""},
		"not cpstats":     {200, []byte(`{"status": "ok"}`), 0, "is this CherryPy", ""},
		"oversized":       {200, bytes.Repeat([]byte(" "), exporter.MaxBodyBytes+1), 0, "too large", ""},
		"html stats page": {200, []byte("<html><title>Statistics</title>"), 0, "malformed", ""},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				w.Write(tc.body)
			}))
			defer srv.Close()
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			pools, err := Source{}.Read(context.Background(), exporter.NewReader(client), srv.URL, logger)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if len(pools) != tc.pools {
				t.Errorf("%d pools, want %d", len(pools), tc.pools)
			}
			if tc.wantLog != "" && !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log %q lacks %q", logs.String(), tc.wantLog)
			}
		})
	}
}
