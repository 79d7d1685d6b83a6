package phpfpm

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseTarget(t *testing.T) {
	for raw, want := range map[string]target{
		"fastcgi://127.0.0.1:9001/status?max_children=10":          {network: "tcp", address: "127.0.0.1:9001", path: "/status", maxChildren: 10},
		"fastcgi://[::1]:9001/fpm/status?max_children=1":           {network: "tcp", address: "[::1]:9001", path: "/fpm/status", maxChildren: 1},
		"fastcgi://php:9001?max_children=4":                        {network: "tcp", address: "php:9001", path: "/status", maxChildren: 4},
		"fastcgi+unix:///run/php/s.sock?path=/st&max_children=3":   {network: "unix", address: "/run/php/s.sock", path: "/st", maxChildren: 3},
		"fastcgi+unix:///run/php/s.sock?pool_config=/etc/www.conf": {network: "unix", address: "/run/php/s.sock", path: "/status", poolConfig: "/etc/www.conf"},
		"http://127.0.0.1/fpm-status?max_children=5":               {httpURL: "http://127.0.0.1/fpm-status?full=&json=", maxChildren: 5},
		"https://h/s?x=1&pool_config=/etc/www.conf":                {httpURL: "https://h/s?full=&json=&x=1", poolConfig: "/etc/www.conf"},
	} {
		got, err := parseTarget(raw)
		if err != nil {
			t.Errorf("%s: %v", raw, err)
			continue
		}
		if *got != want {
			t.Errorf("%s: got %+v, want %+v", raw, *got, want)
		}
		if err := (Source{}).CheckTarget(raw); err != nil {
			t.Errorf("CheckTarget(%s) = %v", raw, err)
		}
	}
	for _, raw := range []string{
		"fastcgi://127.0.0.1:9001/status",                          // no capacity
		"fastcgi://127.0.0.1/status?max_children=3",                // no port
		"fastcgi://127.0.0.1:9001/status?max_children=0",           // not positive
		"fastcgi://127.0.0.1:9001/status?max_children=x",           // not a number
		"fastcgi://127.0.0.1:9001/s?max_children=3&pool_config=/a", // both
		"fastcgi://127.0.0.1:9001/s?pool_config=www.conf",          // relative file
		"fastcgi+unix://host/run/php.sock?max_children=3",          // a host in a unix URL
		"fastcgi+unix:///run/php.sock?path=status&max_children=3",  // relative status path
		"ftp://127.0.0.1/status?max_children=3",
		"127.0.0.1:9000",
		"http:///status?max_children=3",
		"%",
	} {
		if err := (Source{}).CheckTarget(raw); err == nil {
			t.Errorf("CheckTarget(%q) accepted", raw)
		}
	}
}

func TestMaxChildrenOf(t *testing.T) {
	conf := `; a pool file
[global]
pm.max_children = 99

[www]
user = www-data
pm = dynamic
pm.max_children = 5
; pm.max_children = 50
pm.max_children = "7"   ; the last one wins

[other]
pm.max_children = 3
`
	for pool, want := range map[string]float64{"www": 7, "other": 3} {
		if got, err := maxChildrenOf([]byte(conf), pool); err != nil || got != want {
			t.Errorf("pool %s: %v, %v; want %v", pool, got, err, want)
		}
	}
	for name, tc := range map[string]struct{ conf, pool, want string }{
		"no section": {conf, "api", "no [api] section"},
		"no setting": {"[www]\npm = static\n", "www", "no pm.max_children"},
		"not number": {"[www]\npm.max_children = ${MAX}\n", "www", "want a positive number"},
		"zero":       {"[www]\npm.max_children = 0\n", "www", "want a positive number"},
		"bad header": {"[www\n", "www", "bad section"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := maxChildrenOf([]byte(tc.conf), tc.pool)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestReadMaxChildren(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "www.conf")
	if err := os.WriteFile(path, []byte("[www]\npm.max_children = 12\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := readMaxChildren(path, "www"); err != nil || n != 12 {
		t.Errorf("got %v, %v", n, err)
	}
	if _, err := readMaxChildren(filepath.Join(dir, "missing.conf"), "www"); err == nil {
		t.Error("a missing file gave no error")
	}
	big := filepath.Join(dir, "big.conf")
	if err := os.WriteFile(big, make([]byte, maxPoolConfBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readMaxChildren(big, "www"); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Errorf("err = %v for a huge file", err)
	}
}

// pool_config is read during the scrape, outside its deadline: a path that is not a regular
// file (a FIFO, a terminal) is refused rather than left to block the scrape for ever.
func TestReadMaxChildrenRefusesAFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "www.conf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := readMaxChildren(fifo, "www")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("err = %v, want a refusal of a FIFO", err)
		}
	case <-time.After(5 * time.Second):
		// Open the other end, so that the blocked read ends and leaks nothing.
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			w.Close()
		}
		<-done
		t.Error("reading pool_config from a FIFO blocked the scrape")
	}
}
