package cherrypy

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"
)

// PoolName turns cheroot's "Bind Address" (the Python repr of HTTPServer.bind_addr) into the
// pool label:
//
//	('127.0.0.1', 8080)        -> 127.0.0.1:8080
//	('::1', 8080, 0, 0)        -> [::1]:8080   (net.JoinHostPort; flow info and scope id dropped)
//	'/run/app.sock'            -> /run/app.sock (a unix socket: its path)
//	'\x00app' (abstract socket)-> @app          (the usual notation of ss and systemd)
//	b'/run/app.sock'           -> /run/app.sock
//
// A repr longer than maxBindAddress is refused before it is parsed: no host name (253 bytes)
// or socket path (108) makes one, and a hostile page's would become a label of megabytes.
func PoolName(repr string) (string, error) {
	if len(repr) > maxBindAddress {
		return "", fmt.Errorf("%d bytes, longer than any host name or socket path", len(repr))
	}
	s := strings.TrimSpace(repr)
	if rest, ok := strings.CutPrefix(s, "("); ok {
		return tupleName(rest)
	}
	path, rest, err := pyString(s)
	if err != nil {
		return "", err
	}
	if rest != "" {
		return "", fmt.Errorf("unexpected %q after the socket path", rest)
	}
	if path == "" {
		return "", errors.New("empty socket path")
	}
	if abstract, ok := strings.CutPrefix(path, "\x00"); ok {
		path = "@" + abstract
	}
	if !utf8.ValidString(path) {
		return "", fmt.Errorf("socket path %q is not UTF-8", path)
	}
	return path, nil
}

// maxBindAddress bounds a "Bind Address": a socket path of 108 bytes, each written as a
// 4-byte \x escape, with room to spare.
const maxBindAddress = 1024

// tupleName parses "'host', port[, flowinfo, scope_id])".
func tupleName(s string) (string, error) {
	host, rest, err := pyString(s)
	if err != nil {
		return "", fmt.Errorf("host: %w", err)
	}
	rest, ok := strings.CutSuffix(strings.TrimSpace(rest), ")")
	if !ok {
		return "", errors.New("tuple not closed")
	}
	fields := strings.Split(rest, ",")
	// fields[0] is what stood between the host and its comma: nothing.
	if len(fields) < 2 || strings.TrimSpace(fields[0]) != "" {
		return "", errors.New("want ('host', port)")
	}
	port, err := strconv.ParseUint(strings.TrimSpace(fields[1]), 10, 16)
	if err != nil {
		return "", fmt.Errorf("port: %w", err)
	}
	if host == "" || !utf8.ValidString(host) {
		return "", fmt.Errorf("host %q is empty or not UTF-8", host)
	}
	return net.JoinHostPort(host, strconv.FormatUint(port, 10)), nil
}

// pyString decodes the Python str or bytes literal at the start of s, as repr() writes it,
// and returns it with the rest of s.
func pyString(s string) (value, rest string, err error) {
	s = strings.TrimPrefix(s, "b")
	if s == "" || (s[0] != '\'' && s[0] != '"') {
		return "", "", fmt.Errorf("want a quoted Python string, got %q", s)
	}
	quote := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == quote:
			return b.String(), s[i+1:], nil
		case c != '\\':
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			break
		}
		switch e := s[i]; e {
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if i+n >= len(s) {
				return "", "", fmt.Errorf("truncated \\%c escape", e)
			}
			code, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32)
			if err != nil {
				return "", "", fmt.Errorf("bad \\%c escape: %w", e, err)
			}
			if e == 'x' {
				// In a str repr \xhh is the code point U+00hh; in a bytes repr, a byte. Socket
				// paths are bytes on the wire and only \x00 (abstract sockets) matters here.
				if code < 0x80 {
					b.WriteByte(byte(code))
				} else {
					b.WriteRune(rune(code))
				}
			} else {
				if !utf8.ValidRune(rune(code)) {
					return "", "", fmt.Errorf("bad code point \\%c%s", e, s[i+1:i+1+n])
				}
				b.WriteRune(rune(code))
			}
			i += n
		default:
			return "", "", fmt.Errorf("unknown escape \\%c", e)
		}
	}
	return "", "", errors.New("unterminated string")
}
