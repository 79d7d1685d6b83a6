package cherrypy

import (
	"errors"
	"strings"
)

// errRequestLine is what ParseRequestLine reports for a line it cannot split.
var errRequestLine = errors.New("not an HTTP request line")

// ParseRequestLine splits an HTTP request line as cpstats records it ("GET /a?b=1 HTTP/1.1")
// into its method and target. HTTP/0.9's "GET /a" has no version and is accepted; anything
// else that is not a token, one space, a target without spaces and an optional version is
// refused, so that a broken line never becomes a route. Neither result is normalised.
func ParseRequestLine(line string) (method, target string, err error) {
	method, rest, ok := strings.Cut(line, " ")
	if !ok || method == "" || rest == "" {
		return "", "", errRequestLine
	}
	target, version, hasVersion := strings.Cut(rest, " ")
	if target == "" || (hasVersion && (!strings.HasPrefix(version, "HTTP/") || strings.ContainsAny(version, " \t"))) {
		return "", "", errRequestLine
	}
	for i := 0; i < len(method); i++ {
		if !isTokenChar(method[i]) {
			return "", "", errRequestLine
		}
	}
	if strings.ContainsAny(target, "\t\r\n") {
		return "", "", errRequestLine
	}
	return method, target, nil
}

// isTokenChar reports whether c may appear in an HTTP token (RFC 9110, 5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
