package cherrypy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/exporter/cherrypytest"
)

// hostileRead reads page from a loopback server as the exporter does, and returns the pools,
// what was logged, the bytes allocated meanwhile and the error.
func hostileRead(t *testing.T, page []byte) ([]exporter.Pool, string, uint64, error) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write(page)
	}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var logs bytes.Buffer
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	pools, err := Source{}.Read(context.Background(), exporter.NewReader(client), srv.URL, slog.New(slog.NewTextHandler(&logs, nil)))
	runtime.ReadMemStats(&after)
	return pools, logs.String(), after.TotalAlloc - before.TotalAlloc, err
}

// A page of 100k servers (9.5 MB, under the body limit) is refused at the 51st server: the
// read stops there, so it allocates a few hundred kilobytes rather than the page (and its
// 400k series) many times over.
func TestReadStopsAtThePoolLimit(t *testing.T) {
	for _, kind := range []string{cherrypytest.ManyServers, cherrypytest.SameBindAddress, cherrypytest.WrongTypes} {
		t.Run(kind, func(t *testing.T) {
			page := cherrypytest.HostilePage(kind, 100_000)
			if len(page) > exporter.MaxBodyBytes {
				t.Fatalf("page of %d bytes is over the body limit", len(page))
			}
			pools, logs, allocated, err := hostileRead(t, page)
			if !errors.Is(err, exporter.ErrTooManyPools) || len(pools) != 0 {
				t.Errorf("err = %v with %d pools, want ErrTooManyPools", err, len(pools))
			}
			if logs != "" {
				t.Errorf("the source logged the refused page itself (the collector says why, once):\n%.500s", logs)
			}
			// The client's buffers and the first entries: far below the page's size.
			if allocated > 2<<20 {
				t.Errorf("reading the %d-byte page allocated %d bytes", len(page), allocated)
			}
		})
	}
}

// Under the limit, repeated problems of one read are one line with a count, and an error
// about a page of bad servers names one of them, not all.
func TestReadSummarisesBadEntries(t *testing.T) {
	const n = 40
	_, logs, _, err := hostileRead(t, cherrypytest.HostilePage(cherrypytest.WrongTypes, n))
	if err == nil || !strings.Contains(err.Error(), "40 left out") || len(err.Error()) > 500 {
		t.Errorf("err (%d bytes) = %.600v", len(err.Error()), err)
	}
	if logs != "" {
		t.Errorf("logged %s", logs)
	}

	page := mutate(t, func(doc, _, _ map[string]any) {
		for i := range n {
			doc[serverKeyPrefix+"x"+itoa(i)] = map[string]any{"Bind Address": "<bad>", "Threads": 2.0, "Threads Idle": 2.0, "Queue": 0.0}
		}
	})
	pools, logs, _, err := hostileRead(t, page)
	if err != nil || len(pools) == 0 {
		t.Fatalf("err %v, %d pools", err, len(pools))
	}
	if lines := strings.Count(logs, "\n"); lines != 1 || !strings.Contains(logs, "count=") {
		t.Errorf("want one warning with a count, got %d lines:\n%s", lines, logs)
	}
}

// A valid page that is huge (100k requests in the application's dict) is read to its end one
// request at a time: the oldest running request is found without a map of them all.
func TestReadHugeValidPage(t *testing.T) {
	page := cherrypytest.HostilePage(cherrypytest.ManyRequests, 100_000)
	if len(page) > exporter.MaxBodyBytes {
		t.Fatalf("page of %d bytes is over the body limit", len(page))
	}
	pools, logs, _, err := hostileRead(t, page)
	if err != nil || len(pools) != 1 || logs != "" {
		t.Fatalf("err %v, %d pools, log %s", err, len(pools), logs)
	}
	if got := pools[0].OldestRunningTaskAgeSeconds; got == nil || *got != 99.5 {
		t.Errorf("oldest running = %v, want 99.5", got)
	}
}

// A page nested ten million levels deep (under the body limit) is refused as malformed, as
// json.Unmarshal refused it before the parser streamed: past encoding/json's own depth
// limit. Reading it allocates little, not a decoder stack of ten million levels (470 MB).
func TestReadRefusesDeepNesting(t *testing.T) {
	page := cherrypytest.HostilePage(cherrypytest.DeepNesting, exporter.MaxBodyBytes-200)
	if len(page) > exporter.MaxBodyBytes {
		t.Fatalf("page of %d bytes is over the body limit", len(page))
	}
	pools, _, allocated, err := hostileRead(t, page)
	if err == nil || !strings.Contains(err.Error(), "malformed") || len(pools) != 0 {
		t.Errorf("err = %v with %d pools, want malformed JSON", err, len(pools))
	}
	if allocated > 2<<20 {
		t.Errorf("reading the %d-byte page allocated %d bytes", len(page), allocated)
	}
}

// A server whose bind address fills the page (no host name or socket path is that long) is
// left out with a short reason: neither a pool label of megabytes (seven series of it) nor
// an error that quotes it, escaped (4 bytes per byte) and wrapped again at each level, which
// allocated a gigabyte for one 10 MB page.
func TestReadHugeBindAddress(t *testing.T) {
	for name, addr := range map[string]string{
		"escaped": strings.Repeat("\x7f", exporter.MaxBodyBytes-200),
		"valid":   "('" + strings.Repeat("h", exporter.MaxBodyBytes-200) + "', 80)",
	} {
		t.Run(name, func(t *testing.T) {
			page, err := json.Marshal(map[string]any{
				"Cheroot HTTPServer 1": map[string]any{"Bind Address": addr, "Threads": 4, "Threads Idle": 1, "Queue": 0},
			})
			if err != nil || len(page) > exporter.MaxBodyBytes {
				t.Fatalf("page of %d bytes: %v", len(page), err)
			}
			pools, _, allocated, err := hostileRead(t, page)
			if err == nil || len(pools) != 0 {
				t.Fatalf("%d pools, err %v; want the server left out", len(pools), err)
			}
			if len(err.Error()) > 1000 {
				t.Errorf("an error of %d bytes: %.300s", len(err.Error()), err)
			}
			// The decoder holds the address while it reads it; nothing should copy it after.
			if allocated > 80<<20 {
				t.Errorf("reading the %d-byte page allocated %d MB", len(page), allocated>>20)
			}
		})
	}
}
