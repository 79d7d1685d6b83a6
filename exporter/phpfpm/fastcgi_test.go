package phpfpm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// record builds one FastCGI record as a server would send it, with padding.
func record(typ byte, id int, content []byte, padding int) []byte {
	b := []byte{1, typ, byte(id >> 8), byte(id), byte(len(content) >> 8), byte(len(content)), byte(padding), 0}
	b = append(b, content...)
	return append(b, make([]byte, padding)...)
}

func endRequest(protocolStatus byte) []byte {
	return record(typeEndRequest, 1, []byte{0, 0, 0, 0, protocolStatus, 0, 0, 0}, 0)
}

func TestReadResponse(t *testing.T) {
	stream := bytes.Join([][]byte{
		record(typeStdout, 1, []byte("Status: 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\nbu"), 3),
		record(typeStderr, 1, []byte("PHP Warning: something"), 0),
		record(typeStdout, 0, []byte("management record, not ours"), 5),
		record(typeStdout, 1, []byte("sy"), 6),
		record(typeStdout, 1, nil, 0), // end of STDOUT
		endRequest(0),
		record(typeStdout, 1, []byte("after the end: never read"), 0),
	}, nil)
	out, err := readResponse(bytes.NewReader(stream), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := parseCGI(out)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 503 || resp.Header.Get("Content-Type") != "text/plain" || string(resp.Body) != "busy" {
		t.Errorf("got %d %v %q", resp.Status, resp.Header, resp.Body)
	}
}

func TestReadResponseFailures(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 1000)
	for name, tc := range map[string]struct {
		stream []byte
		want   string
	}{
		"closed early":   {record(typeStdout, 1, []byte("Status: 200\r\n\r\n{"), 0), "before END_REQUEST"},
		"truncated":      {record(typeStdout, 1, []byte("abc"), 0)[:9], "reading FastCGI record"},
		"not fastcgi":    {[]byte("HTTP/1.1 400 Bad Request\r\n\r\n"), "not a FastCGI server"},
		"overloaded":     {endRequest(2), "overloaded"},
		"unknown status": {endRequest(9), "protocol status 9"},
		"short end":      {record(typeEndRequest, 1, []byte{0, 0}, 0), "END_REQUEST of 2 bytes"},
		"unknown type":   {record(11, 1, nil, 0), "unexpected FastCGI record type 11"},
		"stdout too big": {bytes.Join([][]byte{record(typeStdout, 1, big, 0), record(typeStdout, 1, big, 0), endRequest(0)}, nil), "too large"},
		"stderr too big": {bytes.Join([][]byte{record(typeStderr, 1, big, 0), record(typeStderr, 1, big, 0), endRequest(0)}, nil), "too large"},
		// Management records (id 0, here GET_VALUES_RESULT) and padding are skipped, but still
		// read: they count too, or a hostile server could stream them without end before its
		// END_REQUEST.
		"management too big": {bytes.Join([][]byte{record(10, 0, big, 0), record(10, 0, big, 0), endRequest(0)}, nil), "too large"},
		"padding too big":    {bytes.Join([][]byte{bytes.Repeat(record(typeStdout, 1, nil, 255), 6), endRequest(0)}, nil), "too large"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := readResponse(bytes.NewReader(tc.stream), 1500)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseCGI(t *testing.T) {
	resp, err := parseCGI([]byte("Content-Type: application/json\n\n{}"))
	if err != nil || resp.Status != 200 || string(resp.Body) != "{}" {
		t.Errorf("no Status header: %+v %v, want 200", resp, err)
	}
	for _, bad := range []string{"Status: abc\r\n\r\n", "Status: 42\r\n\r\n", "no header at all"} {
		if _, err := parseCGI([]byte(bad)); err == nil {
			t.Errorf("parseCGI(%q) accepted", bad)
		}
	}
}

// The request fcgiGet writes, decoded record by record: BEGIN_REQUEST for a responder that
// closes the connection, the params PHP-FPM matches pm.status_path with, then empty PARAMS
// and STDIN records; records are padded to 8 bytes.
func TestFcgiGetRequest(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		defer server.Close()
		req := make([]byte, 4096)
		n, _ := io.ReadAtLeast(server, req, 8)
		for n < 8 || !bytes.HasSuffix(req[:n], record(typeStdin, 1, nil, 0)) {
			m, err := server.Read(req[n:])
			if err != nil {
				return
			}
			n += m
		}
		_, _ = server.Write(append(record(typeStdout, 1, append([]byte("Content-Type: text/plain\r\n\r\n"), req[:n]...), 0), endRequest(0)...))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := fcgiGet(ctx, client, "/status", "json&full", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	req := resp.Body
	type rec struct {
		typ     byte
		content []byte
	}
	var recs []rec
	for len(req) >= 8 {
		if req[0] != 1 || req[2] != 0 || req[3] != 1 {
			t.Fatalf("bad record header % x", req[:8])
		}
		n, pad := int(req[4])<<8|int(req[5]), int(req[6])
		if (8+n+pad)%8 != 0 {
			t.Errorf("record of type %d not padded to 8 bytes: %d + %d", req[1], n, pad)
		}
		recs = append(recs, rec{req[1], req[8 : 8+n]})
		req = req[8+n+pad:]
	}
	if len(recs) != 4 || recs[0].typ != typeBeginRequest || recs[1].typ != typeParams ||
		recs[2].typ != typeParams || len(recs[2].content) != 0 || recs[3].typ != typeStdin || len(recs[3].content) != 0 {
		t.Fatalf("records %+v", recs)
	}
	if !bytes.Equal(recs[0].content, []byte{0, 1, 0, 0, 0, 0, 0, 0}) {
		t.Errorf("BEGIN_REQUEST body % x, want the responder role without keep-alive", recs[0].content)
	}
	params := map[string]string{}
	p := recs[1].content
	for len(p) > 0 {
		nl, vl := int(p[0]), int(p[1]) // all short here
		params[string(p[2:2+nl])] = string(p[2+nl : 2+nl+vl])
		p = p[2+nl+vl:]
	}
	for k, v := range map[string]string{"SCRIPT_NAME": "/status", "SCRIPT_FILENAME": "/status",
		"REQUEST_URI": "/status?json&full", "QUERY_STRING": "json&full", "REQUEST_METHOD": "GET"} {
		if params[k] != v {
			t.Errorf("param %s = %q, want %q", k, params[k], v)
		}
	}
}

func TestWritePairLongValue(t *testing.T) {
	var b bytes.Buffer
	long := strings.Repeat("v", 300)
	writePair(&b, "K", long)
	if got := b.Bytes()[:5]; !bytes.Equal(got, []byte{1, 0x80, 0, 1, 44}) {
		t.Errorf("lengths % x, want 1 then 300 in four bytes with the high bit", got)
	}
}

// A cancelled context stops a read that would otherwise wait for the connection's deadline.
func TestFcgiGetStopsWithTheContext(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go func() { _, _ = io.Copy(io.Discard, server) }() // reads the request, never answers
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := fcgiGet(ctx, client, "/status", "json", 1<<20)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// FuzzReadResponse feeds the FastCGI reader and the CGI header parser mutations of a stream
// captured from the real PHP-FPM: they must never panic nor return more than the limit.
func FuzzReadResponse(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "status.fcgi"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(append(record(typeStdout, 1, []byte("Status: 404 Not Found\r\n\r\nFile not found."), 1), endRequest(0)...))
	f.Fuzz(func(t *testing.T, stream []byte) {
		const limit = 4096
		out, err := readResponse(bytes.NewReader(stream), limit)
		if err != nil {
			return
		}
		if len(out) > limit {
			t.Errorf("read %d bytes past the %d limit", len(out), limit)
		}
		_, _ = parseCGI(out)
	})
}

// statusServer is a FastCGI listener on loopback that answers its n-th connection with
// answer(n) (counting from 1), then closes it, as PHP-FPM does without keep-alive. It returns
// the listener's address and the number of connections it answered so far.
func statusServer(t *testing.T, answer func(n int) []byte) (string, func() int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	served := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			served++
			n := served
			mu.Unlock()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			// The request ends with an empty STDIN record.
			req := make([]byte, 0, 1024)
			buf := make([]byte, 1024)
			for !bytes.HasSuffix(req, record(typeStdin, 1, nil, 0)) {
				m, err := conn.Read(buf)
				if err != nil {
					break
				}
				req = append(req, buf[:m]...)
			}
			_, _ = conn.Write(answer(n))
			conn.Close()
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return served }
}

func cgiAnswer(head, body string) []byte {
	return append(record(typeStdout, 1, []byte(head+"\r\n\r\n"+body), 0), endRequest(0)...)
}

// PHP-FPM answers 500 "Internal error" when its status request cannot take the scoreboard's
// lock at once (fpm_scoreboard_copy does not wait for it) or finds idle/active mid-update: a
// few reads in a thousand under load, with the pool healthy. The read tries again, within its
// deadline and a bounded number of times, instead of reporting poolwatch_up 0.
func TestReadFastCGIRetriesAnInternalError(t *testing.T) {
	const busy = "Internal error. Please review log file for errors."
	status := `{"pool":"www","accepted conn":1,"listen queue":0,"listen queue len":8,"processes":[{"state":"Idle","request duration":5}]}`
	addr, served := statusServer(t, func(n int) []byte {
		if n <= 2 {
			return cgiAnswer("Status: 500 Internal Server Error\r\nContent-type: text/plain", busy)
		}
		return cgiAnswer("Content-type: application/json", status)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pools, err := Source{}.Read(ctx, reader(), "fastcgi://"+addr+"/status?max_children=2", slog.New(slog.DiscardHandler))
	if err != nil || len(pools) != 1 || pools[0].Workers != 1 {
		t.Fatalf("Read = %v, %v; want the pool once PHP-FPM got its lock", pools, err)
	}
	if served() != 3 {
		t.Errorf("%d requests, want 2 refused and 1 answered", served())
	}

	// A server that keeps failing is reported, after a bounded number of attempts.
	addr, served = statusServer(t, func(int) []byte {
		return cgiAnswer("Status: 500 Internal Server Error\r\nContent-type: text/plain", busy)
	})
	_, err = Source{}.Read(ctx, reader(), "fastcgi://"+addr+"/status?max_children=2", slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("err = %v, want PHP-FPM's 500", err)
	}
	if n := served(); n < 2 || n > 5 {
		t.Errorf("%d attempts at a server that always fails, want a few", n)
	}
}
