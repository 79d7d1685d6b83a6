package cherrypy

import (
	"strings"
	"testing"
)

func TestPoolName(t *testing.T) {
	for repr, want := range map[string]string{
		`('127.0.0.1', 8080)`:         "127.0.0.1:8080",
		`('0.0.0.0', 80)`:             "0.0.0.0:80",
		`('localhost', 9000)`:         "localhost:9000",
		`('::1', 8080)`:               "[::1]:8080",
		`('::', 8080, 0, 0)`:          "[::]:8080",
		`('fe80::1%eth0', 1, 0, 2)`:   "[fe80::1%eth0]:1",
		`'/run/app.sock'`:             "/run/app.sock",
		`"/tmp/it's.sock"`:            "/tmp/it's.sock",
		`'/tmp/a\\b.sock'`:            `/tmp/a\b.sock`,
		`'\x00abstract'`:              "@abstract",
		`b'/run/app.sock'`:            "/run/app.sock",
		`'/tmp/caf\xe9.sock'`:         "/tmp/café.sock",
		`'/tmp/\u263a.sock'`:          "/tmp/☺.sock",
		`  ('127.0.0.1', 8080)  `:     "127.0.0.1:8080",
		`('127.0.0.1',8080)`:          "127.0.0.1:8080",
		`('host\'s', 1)`:              "host's:1",
		`('10.0.0.1', 65535)`:         "10.0.0.1:65535",
		`'/tmp/tab\there.sock'`:       "/tmp/tab\there.sock",
		`('example.org', 443, 0, 0)`:  "example.org:443",
		`('127.0.0.1', 8080, 0, 0) `:  "127.0.0.1:8080",
		`('2001:db8::1', 8443, 0, 0)`: "[2001:db8::1]:8443",
	} {
		got, err := PoolName(repr)
		if err != nil || got != want {
			t.Errorf("PoolName(%s) = %q, %v; want %q", repr, got, err, want)
		}
	}
}

func TestPoolNameRejects(t *testing.T) {
	for _, repr := range []string{
		``, `None`, `()`, `('127.0.0.1')`, `('127.0.0.1', )`, `('127.0.0.1', 70000)`,
		`('127.0.0.1', -1)`, `('', 80)`, `''`, `'unterminated`, `('h', 80`, `'/a' trailing`,
		`'\q'`, `'\x4'`, `'\ud800'`, `127.0.0.1:8080`, `(8080, '127.0.0.1')`,
		"('" + strings.Repeat("h", 1100) + "', 80)", // longer than any host name
	} {
		if got, err := PoolName(repr); err == nil {
			t.Errorf("PoolName(%s) = %q, want an error", repr, got)
		}
	}
}

func FuzzPoolName(f *testing.F) {
	for _, s := range []string{`('127.0.0.1', 8080)`, `('::1', 8080, 0, 0)`, `'/run/a.sock'`, `b'\x00x'`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, repr string) {
		_, _ = PoolName(repr) // must not panic; validity is checked by Pool.Validate
	})
}
